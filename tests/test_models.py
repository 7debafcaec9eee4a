"""Bundled architectures, shipped weights against their bars, and the user-model loader."""
import math
import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from xai_core.data.synthetic import CLASSES
from xai_core.errors import ModelSpecError
from xai_core.models.base import VideoModel
from xai_core.models.loader import load_model
from xai_core.models.registry import bundled, bundled_names

ARCHS = bundled_names()


@pytest.mark.parametrize("name", ARCHS)
def test_architecture_contract(name):
    torch.manual_seed(0)
    net = bundled(name).factory(len(CLASSES)).eval()
    x = torch.randn(2, 3, 16, 64, 64)                              # (N, C, T, H, W)
    seen = {}
    layer = net.get_submodule(net.cam_layer)
    handle = layer.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    with torch.no_grad():
        out = net(x)
    handle.remove()
    assert out.shape == (2, len(CLASSES))
    assert len(seen["shape"]) == 5 and seen["shape"][0] == 2       # (N, C', T', H', W')


def test_frame_pooling_model_cannot_see_order():
    torch.manual_seed(0)
    net = bundled("frame2d_pool").factory(len(CLASSES)).eval()
    x = torch.randn(1, 3, 16, 64, 64)
    with torch.no_grad():   # float64: reordering the mean of T = 16 frames errs by <= 2 T 2**-53 of
        x64, net64 = x.double(), net.double()   # the features; 1e-10 of the logits leaves room for
        forward = net64(x64)                    # the head's weights (measured: 7e-18 of 0.08)
        torch.testing.assert_close(net64(x64.flip(2)), forward, rtol=0, atol=1e-10 * float(forward.abs().max()))
    lstm = bundled("cnn_lstm").factory(len(CLASSES)).eval()
    with torch.no_grad():   # order moves the logits by 5e-3 of the largest; float32 rounding by ~1e-7
        a, b = lstm(x), lstm(x.flip(2))
        assert (a - b).abs().max() > 1e-4 * a.abs().max()


# ------------------------------------------------------------------ the shipped weights

BARS = {"c3d_small": 0.95, "r2plus1d_small": 0.95, "cnn_lstm": 0.90, "two_stream": 0.95}


@pytest.fixture(scope="module")
def test_clips():
    from xai_core.data.synthetic import make_dataset
    from xai_core.models.train import TEST_SEED
    return make_dataset(300, TEST_SEED)


def _predict(name, data):
    from xai_core.models.train import batches
    model = load_model(name)
    preds = []
    with torch.no_grad():
        for x, _ in batches(data.clips, data.labels, 50, np.random.default_rng(0), augment=False):
            preds.append(model(x).argmax(1))
    return torch.cat(preds).numpy()


@pytest.mark.parametrize("name", ARCHS)
def test_shipped_weights_are_small_and_carry_metadata(name):
    entry = bundled(name)
    assert entry.weights.exists(), f"run: python -m xai_core train --model {name}"
    assert entry.weights.stat().st_size <= 5 * 2**20
    model = load_model(name)
    assert isinstance(model, VideoModel) and model.class_names == list(CLASSES)
    assert not model.training
    assert entry.checkpoints.exists()


@pytest.mark.parametrize("name", sorted(BARS))
def test_shipped_accuracy_bars(name, test_clips):
    acc = (_predict(name, test_clips) == test_clips.labels).mean()
    assert acc >= BARS[name], f"{name}: {acc:.3f} < {BARS[name]}"


def test_frame_pooling_bars(test_clips):
    """frame2d_pool: good on appearance, chance on the reversed-order pair (it cannot see order)."""
    pred, y = _predict("frame2d_pool", test_clips), test_clips.labels
    appearance = np.isin(y, [CLASSES.index("hold_red"), CLASSES.index("hold_blue")])
    reversed_pair = np.isin(y, [CLASSES.index("sit_down"), CLASSES.index("stand_up")])
    assert (pred[appearance] == y[appearance]).mean() >= 0.90
    assert (pred[reversed_pair] == y[reversed_pair]).mean() <= 0.65


# ------------------------------------------------------------------------- user models


def _tiny_spec(tmp_path, weights_name="w.safetensors", **over):
    torch.manual_seed(0)
    import torchvision
    net = torchvision.models.video.r3d_18(num_classes=3)
    path = tmp_path / weights_name
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    else:
        torch.save(net.state_dict(), path)
    spec = {"name": "my_r3d", "factory": "torchvision.models.video:r3d_18", "kwargs": {"num_classes": 3},
            "weights": weights_name, "class_names": ["a", "b", "c"],
            "input": {"frames": 8, "height": 64, "width": 64, "mean": [0.43, 0.39, 0.37],
                      "std": [0.22, 0.22, 0.21]}}
    spec.update(over)
    return spec, net


@pytest.mark.parametrize("weights_name", ["w.safetensors", "w.pt"])
def test_user_model_from_yaml_matches_the_original(tmp_path, weights_name):
    spec, net = _tiny_spec(tmp_path, weights_name)
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(spec))
    model = load_model(tmp_path / "model.yaml")
    assert model.name == "my_r3d" and model.class_names == ["a", "b", "c"]
    assert model.info.cam_layer == "layer4" and model.spec.frames == 8
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net.eval()(x))


@pytest.mark.parametrize("arch", ["mc3_18", "r2plus1d_18", "s3d", "mvit_v1_b", "swin3d_t"])
def test_torchvision_video_architectures_load(tmp_path, arch):
    import torchvision
    torch.manual_seed(0)
    net = getattr(torchvision.models.video, arch)(num_classes=4)
    torch.save(net.state_dict(), tmp_path / "w.pth")
    spec = {"factory": f"torchvision.models.video:{arch}", "kwargs": {"num_classes": 4},
            "weights": str(tmp_path / "w.pth"), "class_names": list("abcd"),
            "input": {"frames": 16, "size": 224, "mean": [0.45] * 3, "std": [0.225] * 3}}
    model = load_model(spec)
    for (k, a), b in zip(model.net.state_dict().items(), net.state_dict().values()):
        assert torch.equal(a, b), k
    if arch in ("mc3_18", "r2plus1d_18"):
        with torch.no_grad():
            assert model(torch.randn(1, 3, 8, 64, 64)).shape == (1, 4)


def test_mismatched_state_dict_names_the_keys(tmp_path):
    spec, net = _tiny_spec(tmp_path)
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ModelSpecError, match=r"missing keys: fc\.weight.*unexpected keys: extra\.weight"):
        load_model({**spec, "weights": str(tmp_path / "bad.safetensors")})


def test_pickled_model_is_refused_not_unpickled(tmp_path):
    spec, net = _tiny_spec(tmp_path)
    torch.save(net, tmp_path / "whole_model.pt")                # a pickled module, not a state dict
    with pytest.raises(ModelSpecError, match="weights_only=True"):
        load_model({**spec, "weights": str(tmp_path / "whole_model.pt")})


@pytest.mark.parametrize("change, message", [
    ({"colour": 1}, r"unknown key\(s\) \['colour'\]"),
    ({"factory": "nope.nowhere:f"}, "cannot import module 'nope.nowhere'"),
    ({"factory": "torchvision.models.video:r4d"}, "has no 'r4d'"),
    ({"class_names": ["a", "b"]}, "3 outputs but 2 class names"),
    ({"weights": "missing.safetensors"}, "not found"),
    ({"input": {"frames": 0, "size": 64}}, "'frames' must be an integer from 1 to"),
    ({"cam_layer": "layer9"}, "'cam_layer' 'layer9' is not a module"),
    ({"input": {"frames": 8, "size": 64, "channels": []}}, "channels"),   # not a string (found by the fuzz test)
    ({"input": {"frames": 8, "size": 64, "channels": "flow"}}, "computed by xai_core.motion"),
])
def test_bad_specs_name_the_key(tmp_path, change, message):
    spec, _ = _tiny_spec(tmp_path)
    spec.update(change)
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ModelSpecError, match=message) as err:
        load_model(tmp_path / "m.yaml")
    assert "m.yaml" in str(err.value)


def test_broken_yaml_and_unknown_bundled_name(tmp_path):
    (tmp_path / "broken.yaml").write_text("factory: [unclosed\n")
    with pytest.raises(ModelSpecError, match="broken.yaml: not valid YAML"):
        load_model(tmp_path / "broken.yaml")
    with pytest.raises(ModelSpecError, match="unknown model 'c4d'"):
        load_model("c4d")


def test_models_file_lists_specs_with_paths_from_the_file(tmp_path):
    from xai_core.models.loader import read_models_file
    spec, net = _tiny_spec(tmp_path)
    (tmp_path / "models.yaml").write_text(yaml.safe_dump({"models": [spec]}))
    specs = read_models_file(tmp_path / "models.yaml")
    assert list(specs) == ["my_r3d"] and specs["my_r3d"]["weights"] == str(tmp_path / "w.safetensors")
    model = load_model(specs["my_r3d"])
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net.eval()(x))
    for bad, message in [({"models": [spec, spec]}, "already taken"), ({"models": [{**spec, "name": "c3d_small"}]},
                         "already taken"), ({"modelz": []}, "one key 'models'"), ({"models": [{"factory": "a:b"}]},
                         r"models\[0\] needs a 'name'")]:
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
        with pytest.raises(ModelSpecError, match=message):
            read_models_file(tmp_path / "bad.yaml")


def test_explain_holds_the_models_lock(monkeypatch):
    """explain() runs a method under the VideoModel's lock, so sessions sharing a model never interleave hooks."""
    import threading
    from xai_core import explain
    from xai_core.methods import registry
    from xai_core.video import clip_from_array
    from xai_core.data.synthetic import make_dataset
    model = load_model("c3d_small")
    seen = []
    original = registry.run_method

    def spy(*args, **kwargs):
        seen.append(model.lock._is_owned())          # held by this thread while the method runs
        return original(*args, **kwargs)
    monkeypatch.setattr("xai_core.relevance.explanation.run_method", spy)
    clip = clip_from_array(make_dataset(1, 0).clips[0], model.spec)
    explain(model, clip, "grad_cam")
    assert seen == [True] and not model.lock._is_owned()
    assert isinstance(model.lock, type(threading.RLock()))


@pytest.mark.parametrize("name", ARCHS)
def test_integrated_gradients_complete_on_shipped_weights(name):
    """On the trained models, at default settings, relevance sums to f(x) - f(baseline) within 1%."""
    from xai_core.data.synthetic import make_dataset
    from xai_core.methods.registry import run_method
    from xai_core.metrics.faithfulness import completeness_gap
    from xai_core.models.train import GT_SEED, batches
    data = make_dataset(2, GT_SEED)
    model = load_model(name)
    if name == "two_stream":     # gradients see its RGB stream only (flow has none): complete there
        model = VideoModel(model.net.rgb, model.info)
    x, y = next(batches(data.clips, data.labels, 2, np.random.default_rng(0), augment=False))
    relevance = run_method("integrated_gradients", model, x, y)
    for i in range(2):
        assert completeness_gap(model, x[i:i + 1], int(y[i]), relevance[i]) < 0.01


def test_static_loss_is_uniform_for_motion_classes_and_own_label_for_appearance():
    """Outlier exposure on static counterparts (TrainConfig.static_weight): cross-entropy against
    1/K for a class that needs change, against its own label for an appearance class."""
    from xai_core.data.synthetic import CLASSES
    from xai_core.models.train import static_loss

    torch.manual_seed(0)
    logits = torch.randn(2, len(CLASSES), dtype=torch.float64)
    wave, red = CLASSES.index("wave"), CLASSES.index("hold_red")
    logp = torch.log_softmax(logits, 1)
    got = static_loss(logits, torch.tensor([wave, red]))
    want = (-logp[0].mean() - logp[1, red]) / 2
    torch.testing.assert_close(got, want)
    uniform = torch.zeros(1, len(CLASSES), dtype=torch.float64)      # a uniform prediction: log K
    torch.testing.assert_close(static_loss(uniform, torch.tensor([wave])),
                               torch.tensor(math.log(len(CLASSES)), dtype=torch.float64))
