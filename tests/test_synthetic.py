"""The procedural data set: deterministic, balanced, and its ground truth is what it claims."""
import numpy as np
import pytest

from xai_core.data.synthetic import (APPEARANCE_PAIRS, CLASSES, EVIDENCE_KIND, FINE_KIND, FINE_KINDS,
                                     MOTION_PAIRS, REVERSED_OF, make_dataset, render_clip)


@pytest.fixture(scope="module")
def data():
    return make_dataset(48, seed=11)


def test_shapes_and_types(data):
    N, T, H, W, C = data.clips.shape
    assert (N, T, H, W, C) == (48, 16, 64, 64, 3) and data.clips.dtype == np.uint8
    assert data.masks.shape == (N, T, H, W) and data.masks.dtype == bool
    assert data.labels.shape == (N,) and len(data.kinds) == N
    assert np.bincount(data.labels, minlength=len(CLASSES)).tolist() == [6] * len(CLASSES)
    assert all(k == EVIDENCE_KIND[CLASSES[y]] for k, y in zip(data.kinds, data.labels))
    assert data.fine_kinds == [FINE_KIND[CLASSES[y]] for y in data.labels]
    assert data[:4] == (data.clips, data.labels, data.masks, data.kinds)  # positional users unchanged


def test_fine_kinds_refine_the_kinds():
    """order and change are motion, appearance is appearance; the order classes are exactly the
    reversal pairs (each the other backwards), and every class has one fine kind."""
    assert set(FINE_KIND) == set(CLASSES) and set(FINE_KIND.values()) == set(FINE_KINDS)
    for name, fine in FINE_KIND.items():
        assert EVIDENCE_KIND[name] == ("appearance" if fine == "appearance" else "motion"), name
    paired = {c for a, b in REVERSED_OF.items() for c in (a, b)}
    assert {c for c, k in FINE_KIND.items() if k == "order"} == paired
    assert {c for pair in MOTION_PAIRS for c in pair} == paired


def test_same_seed_same_clips_and_prefix_stable(data):
    again = make_dataset(16, seed=11)
    np.testing.assert_array_equal(again.clips, data.clips[:16])   # clip i depends on (seed, i) only
    np.testing.assert_array_equal(again.masks, data.masks[:16])
    other = make_dataset(16, seed=12)
    assert not np.array_equal(other.clips, again.clips)


def test_class_design():
    assert len(CLASSES) >= 8
    assert len(MOTION_PAIRS) >= 2 and len(APPEARANCE_PAIRS) >= 1
    kinds = {EVIDENCE_KIND[c] for pair in MOTION_PAIRS for c in pair}
    assert kinds == {"motion"}
    assert {EVIDENCE_KIND[c] for pair in APPEARANCE_PAIRS for c in pair} == {"appearance"}


@pytest.mark.parametrize("name", sorted(REVERSED_OF))
def test_motion_pairs_are_the_same_frames_reversed(name):
    """A walk_left clip is a walk_right clip played backwards: same frame multiset, reverse order."""
    twin = REVERSED_OF[name]
    for seed in range(3):
        clip, mask = render_clip(name, np.random.default_rng(seed))
        other, other_mask = render_clip(twin, np.random.default_rng(seed))
        np.testing.assert_array_equal(clip, other[::-1])
        np.testing.assert_array_equal(mask, other_mask[::-1])
        assert sorted(f.tobytes() for f in clip) == sorted(f.tobytes() for f in other)


def test_masks_cover_the_evidence(data):
    for clip, mask, label in zip(data.clips, data.masks, data.labels):
        name = CLASSES[label]
        assert mask.any(), name
        assert mask.mean() < 0.2, f"{name}: the evidence is a small part of the clip"
        if name.startswith("hold_"):
            # every frame shows the ball, and the masked voxels are the ball's colour
            assert mask.any(axis=(1, 2)).all()
            rgb = clip[mask].astype(int)
            red, blue = (rgb[:, 0] - rgb[:, 2]).mean(), (rgb[:, 2] - rgb[:, 0]).mean()
            assert (red > 40) if name == "hold_red" else (blue > 40), name


def test_motion_masks_hold_the_motion():
    """In motion classes the figure moves inside the mask: noise-free renders differ there."""
    for name in ("walk_right", "sit_down", "wave", "jump"):
        clip, mask = render_clip(name, np.random.default_rng(3))
        frames = np.nonzero(mask.any(axis=(1, 2)))[0]
        assert len(frames) >= 4, name
        t = frames[len(frames) // 2]
        diff = np.abs(clip[t + 1].astype(int) - clip[t - 1].astype(int)).sum(-1) > 60
        inside = diff & (mask[t] | mask[t - 1] | mask[t + 1])
        assert inside.sum() >= 3, f"{name}: no motion inside the mask"
