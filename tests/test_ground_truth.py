"""Ground-truth scores: the metrics themselves, and the claim that an explanation of c3d_small finds the evidence."""
import numpy as np
import pytest
import torch

from xai_core.data.synthetic import make_dataset
from xai_core.methods.registry import run_method
from xai_core.metrics.ground_truth import dilate, energy_inside, pointing_hit, pointing_tolerance, temporal_hit


def test_pointing_game_and_energy_on_hand_made_maps():
    mask = np.zeros((4, 64, 64), bool)
    mask[2, 10:14, 20:24] = True
    r = np.zeros((4, 64, 64), np.float32)
    r[2, 12, 22] = 1.0                                    # inside
    assert pointing_hit(r, mask, tolerance=0) and temporal_hit(r, mask)
    r[2, 12, 22], r[2, 12, 26] = 0.0, 1.0                 # 3 px right of the mask
    assert not pointing_hit(r, mask, tolerance=2) and pointing_hit(r, mask, tolerance=3)
    r[:] = 0
    r[1, 12, 22] = 1.0                                    # right place, wrong frame
    assert not pointing_hit(r, mask, tolerance=5) and not temporal_hit(r, mask)
    assert not pointing_hit(np.zeros_like(r), mask)       # no relevance points nowhere
    r = np.where(mask, 3.0, 1.0).astype(np.float32)
    expected = 3 * mask.sum() / (3 * mask.sum() + (~mask).sum())
    assert energy_inside(r, mask) == pytest.approx(expected)
    assert energy_inside(-r, mask) == 0.0                 # only positive relevance counts
    assert pointing_tolerance(224) == 15 and pointing_tolerance(64) == 4
    assert dilate(mask, 1).sum() == 6 * 6


@pytest.fixture(scope="module")
def gt_clips():
    from xai_core.models.train import GT_SEED
    return make_dataset(100, GT_SEED)


def test_grad_cam_on_c3d_points_at_the_evidence(gt_clips):
    """On 100 fresh clips, grad_cam on c3d_small points into the evidence at least 60% of the time
    (docs/ground_truth.md has every method x model)."""
    from xai_core import load_model
    from xai_core.models.train import batches
    model = load_model("c3d_small")
    hits, energy, uniform = [], [], []
    for start, (x, y) in zip(range(0, 100, 25), batches(gt_clips.clips, gt_clips.labels, 25,
                                                         np.random.default_rng(0), augment=False)):
        rel = run_method("grad_cam", model, x, y).numpy()
        for r, m in zip(rel, gt_clips.masks[start:start + len(y)]):
            hits.append(pointing_hit(r, m))
            energy.append(energy_inside(r, m))
            uniform.append(m.mean())
    assert np.mean(hits) >= 0.60
    assert np.mean(energy) > 2 * np.mean(uniform)         # far more than a uniform map puts there


def test_pointing_game_is_not_applicable_to_maps_without_a_place():
    """A map constant within each frame (temporal occlusion) does not point anywhere: argmax would
    pick pixel (t, 0, 0); the score is None ("n/a") and rates leave such clips out."""
    from xai_core.metrics.ground_truth import pointing_rate, pointing_text
    mask = np.zeros((4, 16, 16), bool)
    mask[2, 6:10, 6:10] = True
    per_frame = np.broadcast_to(np.array([0.1, 0.3, 0.9, 0.2])[:, None, None], (4, 16, 16))
    assert pointing_hit(per_frame, mask) is None and pointing_text(None) == "n/a"
    mask[2, 0, 0] = True                                  # even when (t, 0, 0) lies in the evidence
    assert pointing_hit(per_frame, mask) is None
    assert pointing_hit(np.zeros((4, 16, 16)), mask) is False   # found nothing: a miss, counted
    spot = np.zeros((4, 16, 16))
    spot[2, 7, 7] = 1.0
    assert pointing_hit(spot, mask) is True and pointing_text(True) == "hit"
    negative = -1.0 - np.random.default_rng(0).random((4, 16, 16))
    assert pointing_hit(negative, mask) is False          # no positive relevance: points nowhere
    assert pointing_hit(-per_frame, mask) is None         # a temporal map says nothing of where, for or against
    assert pointing_rate([True, None, False, None]) == 0.5 and pointing_rate([None, None]) is None
