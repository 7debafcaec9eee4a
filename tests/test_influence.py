"""Influence examples (xai_core.influence): identities, agreement with captum, the cache, the CLI.

Small reference sets (the first 32-96 clips of the training seed) keep every test in seconds.
"""
import copy
import json
import shutil

import numpy as np
import pytest
import torch

from xai_core import load_model
from xai_core.cli import main
from xai_core.data.synthetic import CLASSES, make_dataset
from xai_core.errors import InfluenceError
from xai_core.influence import FolderSet, TrainingSet, find_checkpoints, index_for, influence, tracin
from xai_core.influence.head import forward_head
from xai_core.influence.reference import training_clip
from xai_core.influence.thumbnails import thumbnail_frames, write_thumbnails
from xai_core.render.video import write_video
from xai_core.video.clip import from_frames, to_tensor

from .test_cli import ROOT, SAMPLE, strict_json


@pytest.fixture(scope="module")
def c3d():
    return load_model("c3d_small")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("influence-cache")


def query(model, i, seed=1):
    """Training clip i of `seed` as a Clip on the model's grid."""
    return from_frames(training_clip(seed, i)[0], model.spec)


def hooks(net):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules())


def test_training_clips_are_make_dataset_clips():
    """Clip i made alone equals clip i of the whole set: the reference set regenerates in chunks."""
    data = make_dataset(12, 1)
    for i in (0, 5, 11):
        clip, label = training_clip(1, i)
        assert np.array_equal(clip, data.clips[i]) and label == data.labels[i]
    ref = TrainingSet(1, 12)
    starts = [(s, len(f)) for s, f, _ in ref.batches(5)]
    assert starts == [(0, 5), (5, 5), (10, 2)]
    assert np.array_equal(np.concatenate([f for _, f, _ in ref.batches(5)]), data.clips)


@pytest.mark.parametrize("method", ["tracin_cosine", "similarity"])
def test_an_exact_copy_ranks_its_original_first(c3d, cache, method):
    """A copy of a reference clip, asked about the class the model gives it, finds its original
    first; raw TracIn gives the copy its original's self-influence (TracIn(z, z))."""
    ref = TrainingSet(1, 96)
    for i in range(0, 96, 7):                             # every class
        r = influence(c3d, query(c3d, i), ref, top=3, method=method, cache_dir=cache)
        assert r.proponents[0].index == i, (i, [e.index for e in r.proponents])
        assert r.proponents[0].score == pytest.approx(1.0, abs=1e-4)
    ck = find_checkpoints(c3d)
    index, _ = index_for(c3d, ref, ck, ck.layer, cache)
    r = influence(c3d, query(c3d, 10), ref, method="tracin", cache_dir=cache)
    own = tracin.self_influence(index.features, index.grads, index.lrs)[10]
    assert r.target["index"] == index.labels[10] == index.logits[10].argmax()
    assert r.scores[10] == pytest.approx(own, rel=1e-4)
    assert hooks(c3d.net) == 0


def captum_scores(model, ck, ref, video, target):
    """captum.influence.TracInCPFast on the same net, layer and checkpoints: (influence (Q, N), self (N,))."""
    from captum.influence import TracInCPFast

    net = copy.deepcopy(model.net)                       # captum loads each checkpoint into its model
    layer = net.get_submodule(ck.layer)

    def load(_, name):
        k = int(name.removeprefix("ckpt"))
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(ck.weights[k]))
            layer.bias.copy_(torch.from_numpy(ck.biases[k]))
        return float(ck.lrs[k])

    frames = torch.stack([to_tensor(ref.frames(i), model.spec) for i in range(len(ref))])
    data = torch.utils.data.TensorDataset(frames, torch.from_numpy(ref.labels))
    tracer = TracInCPFast(net, ck.layer, data, [f"ckpt{k}" for k in range(len(ck))], checkpoints_load_func=load,
                          loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"), batch_size=len(ref))
    scores = tracer.influence((video, target)).double().numpy()
    own = tracer.self_influence(torch.utils.data.DataLoader(data, batch_size=len(ref))).double().numpy()
    return scores, own


@pytest.mark.parametrize("name, n_ref", [("c3d_small", 64), ("two_stream", 40)])
def test_tracin_agrees_with_captum(cache, name, n_ref):
    """Our index + fast TracIn against captum's TracInCPFast on the same checkpoints and layer, 50
    fresh queries (seed 4): without the bias term the very same numbers; with it (our default) a
    Spearman rank correlation of at least 0.99 for every query. two_stream: its checkpoints hold
    the flow head, whose logits are added to the RGB head's."""
    from scipy.stats import spearmanr

    model = load_model(name)
    ck = find_checkpoints(model)
    ref = TrainingSet(1, n_ref)
    index, _ = index_for(model, ref, ck, ck.layer, cache)
    video = torch.stack([to_tensor(c, model.spec) for c in make_dataset(50, 4).clips])   # (50, C, T, H, W)
    f, out, logits = forward_head(model, video, ck.layer)
    target = logits.argmax(1)
    g = tracin.loss_gradients(f.double(), out.double(), logits.double(), ck.weights, ck.biases, target)  # (K, Q, C)
    ours = np.stack([tracin.scores(index.features, index.grads, index.lrs, f[q].numpy(), g[:, q].numpy(), bias=False)
                     for q in range(50)])
    ours_bias = np.stack([tracin.scores(index.features, index.grads, index.lrs, f[q].numpy(), g[:, q].numpy())
                          for q in range(50)])
    theirs, own = captum_scores(model, ck, ref, video, target)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4 * np.abs(theirs).max())
    np.testing.assert_allclose(tracin.self_influence(index.features, index.grads, index.lrs, bias=False), own,
                               rtol=1e-3, atol=1e-4 * own.max())
    rho = [spearmanr(a, b).statistic for a, b in zip(ours_bias, theirs)]
    assert min(rho) >= 0.99, min(rho)


class Toy(torch.nn.Module):
    """A tiny classifier: mean colour per frame half -> linear head; `scale` multiplies the logits."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.head = torch.nn.Linear(6, len(CLASSES))
        self.scale = scale

    def forward(self, x):                                        # (N, 3, T, H, W)
        T = x.shape[2]
        f = torch.cat([x[:, :, : T // 2].mean((2, 3, 4)), x[:, :, T // 2:].mean((2, 3, 4))], 1)   # (N, 6)
        return self.scale * self.head(torch.relu(f))


def toy_model(tmp_path, scale=1.0, lrs=(0.5, 0.25, 0.125)):
    """A VideoModel around Toy with a checkpoints file of random snapshots next to its weights."""
    from safetensors.torch import save_file

    from xai_core.models.base import ModelInfo, VideoModel
    from xai_core.models.registry import DEFAULT_SPEC

    torch.manual_seed(0)
    net = Toy(scale)
    weights = tmp_path / "toy.safetensors"
    save_file(net.state_dict(), str(weights))
    snaps = {}
    for k in range(len(lrs)):
        snaps[f"ckpt{k}.weight"] = torch.randn(len(CLASSES), 6)
        snaps[f"ckpt{k}.bias"] = torch.randn(len(CLASSES))
    save_file(snaps, str(tmp_path / "toy.checkpoints.safetensors"),
              metadata={"layer": json.dumps("head"), "lrs": json.dumps(list(lrs))})
    return VideoModel(net, ModelInfo("toy", list(CLASSES), DEFAULT_SPEC, weights=str(weights))).eval(), snaps


def test_fast_tracin_equals_tracin_by_autograd(tmp_path):
    """The factorised scores equal sum_k lr_k <dL/dtheta(z), dL/dtheta(z')> with the gradients of W
    and b taken by autograd at each checkpoint, and a copy's raw score is its self-influence."""
    model, snaps = toy_model(tmp_path)
    ref = TrainingSet(1, 12)
    clip = query(model, 30, seed=4)
    r = influence(model, clip, ref, method="tracin", cache_dir=tmp_path / "c")

    def grads(frames, label, k):
        net = copy.deepcopy(model.net)
        net.head.weight.data = snaps[f"ckpt{k}.weight"].clone()
        net.head.bias.data = snaps[f"ckpt{k}.bias"].clone()
        loss = torch.nn.functional.cross_entropy(net(to_tensor(frames, model.spec)[None]), torch.tensor([label]))
        return torch.cat([g.flatten() for g in torch.autograd.grad(loss, [net.head.weight, net.head.bias])])

    lrs = (0.5, 0.25, 0.125)
    expected = [sum(lr * float(grads(clip.frames, r.target["index"], k) @ grads(ref.frames(i), ref.labels[i], k))
                    for k, lr in enumerate(lrs)) for i in range(len(ref))]
    np.testing.assert_allclose(r.scores, expected, rtol=1e-4, atol=1e-7)
    cos = influence(model, clip, ref, method="tracin_cosine", cache_dir=tmp_path / "c")
    assert np.all(np.abs(cos.scores) <= 1 + 1e-9) and np.array_equal(np.sign(cos.scores), np.sign(r.scores))


def test_fast_tracin_refuses_a_model_whose_logits_are_not_the_layer_output(tmp_path):
    model, _ = toy_model(tmp_path, scale=2.0)                  # logits = 2 x head: the factorisation is wrong
    with pytest.raises(InfluenceError, match="fast TracIn does not apply"):
        influence(model, query(model, 1), TrainingSet(1, 4), method="tracin", cache_dir=tmp_path / "c")
    r = influence(model, query(model, 1), TrainingSet(1, 4), method="similarity", cache_dir=tmp_path / "c")
    assert r.method == "similarity"
    r = influence(model, query(model, 1), TrainingSet(1, 4), cache_dir=tmp_path / "c")      # auto
    assert r.method == "similarity" and any("fast TracIn does not apply" in n for n in r.notes)


def test_the_cache_is_reused_and_invalidated_by_the_weights(c3d, tmp_path):
    """Built once, then read; a change to the weights (in memory or in the file) is a new index;
    the old weights find their old index again."""
    ref = TrainingSet(1, 32)
    clip = query(c3d, 3)
    first = influence(c3d, clip, ref, cache_dir=tmp_path)
    again = influence(c3d, clip, ref, cache_dir=tmp_path)
    assert first.index["built"] and not again.index["built"] and first.index == {**again.index, "built": True}
    assert np.array_equal(first.scores, again.scores)
    changed = copy.deepcopy(c3d)
    with torch.no_grad():
        changed.net.block2[0].weight.mul_(1.01)
    other = influence(changed, clip, ref, cache_dir=tmp_path)
    assert other.index["built"] and other.index["key"] != first.index["key"]
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
    assert not influence(c3d, clip, ref, cache_dir=tmp_path).index["built"]
    assert hooks(c3d.net) == 0


def small_folder(root, n_per_class=1, classes=("wave", "jump"), seed=1):
    """root/<label>/clip_k.mp4: procedural clips of the given classes written as H.264."""
    data = make_dataset(8 * n_per_class, seed)
    for i, (clip, label) in enumerate(zip(data.clips, data.labels)):
        if CLASSES[label] in classes:
            write_video(root / CLASSES[label] / f"clip_{i}.mp4", clip, fps=8, min_side=64)
    return root


def test_the_cache_is_invalidated_by_the_reference_set(c3d, tmp_path):
    """Another seed or size of the training set, and an edited, added or removed file of a reference
    folder, each give a new index."""
    clip = query(c3d, 3)
    keys = {influence(c3d, clip, TrainingSet(seed, n), cache_dir=tmp_path / "c").index["key"]
            for seed, n in ((1, 16), (1, 17), (2, 16))}
    assert len(keys) == 3
    folder = small_folder(tmp_path / "ref", classes=("wave", "jump", "sit_down"))
    first = influence(c3d, clip, str(folder), top=2, cache_dir=tmp_path / "c")
    assert first.index["built"] and first.reference["n"] == 3
    assert not influence(c3d, clip, str(folder), top=2, cache_dir=tmp_path / "c").index["built"]
    sit = next((folder / "sit_down").iterdir())
    write_video(sit, make_dataset(3, 5).clips[2], fps=8, min_side=64)          # same name, new content
    edited = influence(c3d, clip, str(folder), top=2, cache_dir=tmp_path / "c")
    assert edited.index["built"] and edited.index["key"] != first.index["key"]
    shutil.copy(sit, folder / "sit_down" / "copy.mp4")
    added = influence(c3d, clip, str(folder), top=2, cache_dir=tmp_path / "c")
    assert added.index["built"] and added.reference["n"] == 4
    (folder / "sit_down" / "copy.mp4").unlink()
    assert not influence(c3d, clip, str(folder), top=2, cache_dir=tmp_path / "c").index["built"]


def test_a_corrupt_or_mismatched_cache_file_is_rebuilt(c3d, tmp_path):
    ref = TrainingSet(1, 24)
    clip = query(c3d, 5)
    good = influence(c3d, clip, ref, cache_dir=tmp_path)
    path = tmp_path / good.index["file"]
    original = path.read_bytes()
    for damage in (b"not a safetensors file", original[: len(original) // 2]):
        path.write_bytes(damage)
        again = influence(c3d, clip, ref, cache_dir=tmp_path)
        assert again.index["built"] and any("rebuilt" in n for n in again.notes), again.notes
        np.testing.assert_allclose(again.scores, good.scores, rtol=1e-6)
    other = influence(c3d, clip, TrainingSet(2, 24), cache_dir=tmp_path)      # a valid index of other clips
    shutil.copy(tmp_path / other.index["file"], path)
    again = influence(c3d, clip, ref, cache_dir=tmp_path)
    assert again.index["built"] and any("other inputs" in n for n in again.notes)
    np.testing.assert_allclose(again.scores, good.scores, rtol=1e-6)


def test_a_model_without_checkpoints_falls_back_to_similarity(c3d, tmp_path):
    """A user's model (c3d_small's net and weights, no checkpoints file): feature similarity signed by
    label; it has no training set here, so a reference set must be given."""
    weights = tmp_path / "mine.safetensors"
    shutil.copy(ROOT / "assets" / "weights" / "c3d_small.safetensors", weights)
    model = load_model({"name": "mine", "factory": "xai_core.models.registry:c3d_small", "weights": str(weights),
                        "class_names": list(CLASSES), "input": {"frames": 16, "size": 64, "mean": [0.45] * 3,
                                                                "std": [0.25] * 3}})
    with pytest.raises(InfluenceError, match="no training set here"):
        influence(model, query(model, 2), cache_dir=tmp_path)
    with pytest.raises(InfluenceError, match="no checkpoints file"):
        influence(model, query(model, 2), TrainingSet(1, 16), method="tracin", cache_dir=tmp_path)
    r = influence(model, query(model, 2), TrainingSet(1, 16), top=16, cache_dir=tmp_path)
    assert r.method == "similarity" and r.proponents[0].index == 2 and r.checkpoints is None
    assert all(e.label == r.target["label"] for e in r.proponents)
    assert all(e.label != r.target["label"] for e in r.opponents)
    assert len(r.proponents) + len(r.opponents) == 16


def test_folder_labels_must_be_classes(c3d, tmp_path):
    (tmp_path / "dance").mkdir()
    with pytest.raises(InfluenceError, match="'dance' is not a class"):
        FolderSet(tmp_path, c3d.class_names, c3d.spec)
    (tmp_path / "dance").rmdir()
    (tmp_path / "wave").mkdir()
    with pytest.raises(InfluenceError, match="no video files"):
        FolderSet(tmp_path, c3d.class_names, c3d.spec)
    with pytest.raises(InfluenceError, match="not found"):
        FolderSet(tmp_path / "nowhere", c3d.class_names, c3d.spec)


def test_result_json_thumbnails_and_progress(c3d, tmp_path):
    seen = []
    r = influence(c3d, query(c3d, 6), TrainingSet(1, 40), top=3, cache_dir=tmp_path,
                  progress=lambda f, m: seen.append(f))
    assert seen[0] == 0 and seen[-1] == 1 and seen == sorted(seen)
    body = json.loads(json.dumps(r.to_dict()))
    assert body["method"] == "tracin_cosine" and len(body["proponents"]) == 3
    assert body["proponents"][0]["source"] == "training clip 6 (seed 1)"
    assert np.array_equal(r.proponents[0].frames(), training_clip(1, 6)[0])
    frames = [thumbnail_frames(e, side) for side, es in (("proponent", r.proponents), ("opponent", r.opponents))
              for e in es]
    assert len({f.shape for f in frames}) == 1                   # one size for a grid of thumbnails
    paths = write_thumbnails(r, tmp_path / "t")
    assert sorted(paths) == sorted([f"proponent_{k}" for k in (1, 2, 3)] + [f"opponent_{k}" for k in (1, 2, 3)])
    assert all(p.stat().st_size > 1000 for p in paths.values())


def test_cli_writes_influence_json_and_thumbnails(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))
    folder = small_folder(tmp_path / "ref", classes=("sit_down", "stand_up", "wave"))
    out = tmp_path / "out"
    assert main(["influence", str(SAMPLE), "--model", "c3d_small", "--reference", str(folder), "--top", "2",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "indexed 3/3 reference clips" in captured.err and "proponents" in captured.out
    body = strict_json((out / "influence.json").read_text())
    assert body["model"] == "c3d_small" and body["reference"]["kind"] == "folder"
    for e in body["proponents"] + body["opponents"]:
        assert (out / e["thumbnail"]).stat().st_size > 1000
    assert len(body["proponents"]) + len(body["opponents"]) == 3 and body["index"]["built"]
    assert main(["influence", str(SAMPLE), "--model", "c3d_small", "--reference", str(folder), "--top", "2",
                 "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert not strict_json((out / "influence.json").read_text())["index"]["built"]


@pytest.mark.parametrize("args, says", [
    (["--model", "c3d_small", "--top", "0"], "--top must be in 1..100"),
    (["--model", "nope"], "unknown model 'nope'"),
    (["--model", "c3d_small", "--reference", "/no/such/folder"], "not found"),
    (["--model", "c3d_small", "--target", "dance"], "unknown target 'dance'"),
    (["--model", "c3d_small", "--method", "magic"], "invalid choice: 'magic'"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, says):
    code = main(["influence", str(SAMPLE), *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and says in err, err


def test_cli_missing_video_and_a_model_without_a_training_set(tmp_path, capsys):
    code = main(["influence", str(tmp_path / "missing.mp4"), "--model", "c3d_small", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "missing.mp4" in err, err
    from xai_core.models.packaged import packaged
    if packaged("i3d_k400").installed:                   # no training set ships for I3D: give a folder
        code = main(["influence", str(SAMPLE), "--model", "i3d_k400", "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "give a reference folder" in err, err
