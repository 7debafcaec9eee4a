"""Loading user models the way real checkpoints and real code come: each model is checked against
its spec by a dry run, checkpoints are unwrapped (never guessed when ambiguous), factories come from
trusted modules only, CAM layers are read as the model uses them."""
import copy
import pickle
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
import yaml
from safetensors.torch import save_file

from xai_core.errors import MethodError, ModelSpecError
from xai_core.methods.registry import run_method
from xai_core.models.loader import load_model
from xai_core.spec import InputSpec
from xai_core.video.clip import from_frames, to_tensor

NETS = '''
import torch
from torch import nn


class Backbone(nn.Module):
    def __init__(self, c_in=3):
        super().__init__()
        self.conv1 = nn.Conv3d(c_in, 8, 3, padding=1)
        self.conv2 = nn.Conv3d(8, 16, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))


class TwoHalves(nn.Module):
    """One backbone on each half of the clip, logits averaged (multi-clip models)."""
    def __init__(self, num_classes=2):
        super().__init__()
        self.backbone = Backbone()
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        T = x.shape[2]
        feats = [self.backbone(x[:, :, :T // 2]), self.backbone(x[:, :, T // 2:])]
        return self.fc(torch.stack([f.mean((2, 3, 4)) for f in feats]).mean(0))


class TwoScales(TwoHalves):
    """The backbone on the clip and on a half-size copy: calls that cannot be joined in time."""
    def forward(self, x):
        small = nn.functional.avg_pool3d(x, (1, 2, 2))
        feats = [self.backbone(x), self.backbone(small)]
        return self.fc(torch.stack([f.mean((2, 3, 4)) for f in feats]).mean(0))


class FixedPool(nn.Module):
    """A final pool of fixed size: too large for small clips."""
    def __init__(self, num_classes=2):
        super().__init__()
        self.conv = nn.Conv3d(3, 8, 3, stride=2, padding=1)
        self.pool = nn.AvgPool3d((4, 32, 32))
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


class NoBatch(nn.Module):
    def __init__(self, num_classes=2):
        super().__init__()
        self.conv = nn.Conv3d(3, num_classes, 1)

    def forward(self, x):
        return self.conv(x).mean((0, 2, 3, 4))          # (K,): the batch axis is lost


class ChannelsLast(nn.Module):
    """A transformer-like net: its blocks keep (N, T, H, W, C)."""
    def __init__(self, num_classes=2):
        super().__init__()
        self.embed = nn.Conv3d(3, 64, (2, 4, 4), (2, 4, 4))
        self.block = nn.Linear(64, 64)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        y = self.embed(x).permute(0, 2, 3, 4, 1)        # (N, T', H', W', C)
        y = torch.relu(self.block(y))
        return self.head(y.mean((1, 2, 3)))


def gray(num_classes=2):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(1, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(),
                         nn.Conv3d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, num_classes))


def identity():
    return nn.Identity()


def linear():
    return nn.Linear(4, 2)


def r3d(num_classes=3):
    import torchvision
    return torchvision.models.video.r3d_18(num_classes=num_classes)


def not_a_model() -> int:
    open("factory-ran", "w").write("ran")
    return 3
'''


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A spec folder holding the user's module `nets.py` (trusted: it sits beside the spec)."""
    (tmp_path / "nets.py").write_text(NETS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))          # for the tests' own `import nets`
    import sys
    sys.modules.pop("nets", None)
    yield tmp_path
    import sys
    sys.modules.pop("nets", None)


def write_spec(folder, net, factory, classes=("a", "b"), name="spec.yaml", state=None, **extra):
    state = net.state_dict() if state is None else state
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "w.safetensors"))
    spec = {"name": "user", "factory": factory, "weights": "w.safetensors", "class_names": list(classes),
            "input": {"frames": 8, "height": 32, "width": 32}, **extra}
    (folder / name).write_text(yaml.safe_dump(spec))
    return folder / name


def nets():
    import nets as module
    return module


# ---------------------------------------------------------------- checkpoints as they come

def _r3d_checkpoint(folder, wrap, suffix=".pt"):
    torch.manual_seed(0)
    net = torchvision.models.video.r3d_18(num_classes=3).eval()
    path = folder / f"ckpt{suffix}"
    state = wrap({k: v.contiguous() for k, v in net.state_dict().items()})
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    spec = {"factory": "torchvision.models.video:r3d_18", "kwargs": {"num_classes": 3}, "weights": str(path),
            "class_names": ["a", "b", "c"], "input": {"frames": 8, "size": 32}}
    return net, spec


def _same(model, net):
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x), rtol=0, atol=0)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_batchnorm_counters_may_be_missing_as_torch_allows(folder, suffix):
    net, spec = _r3d_checkpoint(folder, lambda s: {k: v for k, v in s.items()
                                                   if not k.endswith("num_batches_tracked")}, suffix)
    model = load_model(spec)
    _same(model, net)


@pytest.mark.parametrize("wrap, note", [
    (lambda s: {f"module.{k}": v for k, v in s.items()}, "prefix 'module.' was stripped"),
    (lambda s: {f"module._orig_mod.{k}": v for k, v in s.items()}, "prefix '_orig_mod.' was stripped"),
    (lambda s: {"state_dict": s, "epoch": 7}, "entry 'state_dict'"),
    (lambda s: {"model": {f"module.{k}": v for k, v in s.items()}, "optimizer": {"lr": 0.1}}, "entry 'model'"),
    (lambda s: {"checkpoint": {"net": s}, "step": 100}, "entry 'checkpoint/net'"),
])
def test_checkpoint_wrappers_are_recognised_with_a_note(folder, wrap, note):
    net, spec = _r3d_checkpoint(folder, wrap)
    model = load_model(spec)
    _same(model, net)
    assert any(note in n for n in model.info.notes), model.info.notes


def test_ambiguous_checkpoint_is_refused_not_guessed(folder):
    net, spec = _r3d_checkpoint(folder, lambda s: {"model": s, "model_ema": {k: v * 1 for k, v in s.items()}})
    with pytest.raises(ModelSpecError, match=r"several state dicts .*'model', 'model_ema'.*state_dict_key"):
        load_model(spec)
    model = load_model({**spec, "state_dict_key": "model_ema"})
    _same(model, net)


def test_a_checkpoint_without_fitting_weights_names_its_entries(folder):
    _, spec = _r3d_checkpoint(folder, lambda s: {"optimizer": {"lr": torch.tensor(0.1)}, "epoch": 3})
    with pytest.raises(ModelSpecError, match=r"no|does not hold a state dict .*optimizer, epoch"):
        load_model(spec)


# ---------------------------------------------------------------- the dry run: model vs spec

@pytest.mark.parametrize("factory, message", [
    ("nets:identity", "has no parameters"),
    ("nets:linear", r"forward pass fails on a clip of the spec's shape \(1, 3, 8, 32, 32\)"),
    ("nets:FixedPool", r"forward pass fails .*\(1, 3, 8, 32, 32\)"),
    ("nets:NoBatch", r"returns shape \(2,\) .*expected logits \(N, K\) = \(1, 2\)"),
    ("nets:gray", "first convolution takes 1 channel.* spec gives 3 .*channels: gray"),
])
def test_a_model_that_does_not_fit_its_spec_is_one_clear_error(folder, factory, message):
    module = nets()
    net = getattr(module, factory.split(":")[1])()
    spec = write_spec(folder, net, factory)
    with pytest.raises(ModelSpecError, match=message) as err:
        load_model(spec)
    assert str(spec) in str(err.value)                              # names the spec file


def test_wrong_number_of_outputs_is_caught_by_the_dry_run(folder):
    net = nets().gray(num_classes=5)
    spec = write_spec(folder, net, "nets:gray", kwargs={"num_classes": 5},
                      input={"frames": 8, "size": 32, "mean": [0.5], "std": [0.25]})
    spec_text = yaml.safe_load(spec.read_text())
    spec_text["class_names"] = ["a", "b", "c"]
    spec.write_text(yaml.safe_dump(spec_text))
    with pytest.raises(ModelSpecError, match="5 outputs but 3 class names"):
        load_model(spec)


def test_one_channel_model_explains_a_gray_clip(folder):
    net = nets().gray().eval()
    spec = write_spec(folder, net, "nets:gray", classes=["no", "yes"],
                      input={"frames": 8, "size": 32, "mean": [0.5], "std": [0.25]})
    model = load_model(spec)
    assert model.spec.channels == "gray" and model.spec.num_channels == 1
    rgb = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    clip = from_frames(rgb, model.spec)
    x = clip.tensor                                                  # (1, T, H, W)
    import cv2
    luma = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb]).astype(np.float32) / 255
    # cv2 rounds luma to uint8 (<= 0.5 grey level) with 15-bit fixed-point weights (<= 255 * 3 * 2**-15
    # = 0.02 level); in normalised units both are divided by 255 and by std 0.25
    np.testing.assert_allclose(x[0].numpy(), (luma - 0.5) / 0.25, rtol=0, atol=0.52 / 255 / 0.25)
    for method in ("saliency", "grad_cam", "occlusion"):
        r = run_method(method, model, x[None], torch.tensor([1]))
        assert r.shape == (1, 8, 32, 32) and torch.isfinite(r).all()


def test_bgr_channels_reverse_the_colours():
    frames = np.random.default_rng(1).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    rgb = to_tensor(frames, InputSpec(frames=2, height=4, width=4, mean=(0.1, 0.2, 0.3), std=(1, 1, 1)))
    bgr = to_tensor(frames, InputSpec(frames=2, height=4, width=4, mean=(0.3, 0.2, 0.1), std=(1, 1, 1),
                                      channels="BGR"))
    torch.testing.assert_close(bgr, rgb.flip(0), rtol=0, atol=0)


@pytest.mark.parametrize("entry, message", [
    ({"size": "64"}, r"'size' must be an integer or \[height, width\], got '64'"),
    ({"size": [64, 64, 3]}, r"'size' must be .*channels come from 'mean'"),
    ({"size": 64, "mean": [0.5, float("nan"), 0.5]}, "'mean' must be finite"),
    ({"size": 64, "mean": ["0.5", 0.5, 0.5]}, "'mean' must be a list of numbers"),
    ({"size": 64, "mean": [0.5, 0.5]}, "'mean' needs 3 values for RGB"),
    ({"size": 64, "channels": "rgba"}, "'channels' must be one of"),
    ({"frames": 10 ** 9, "size": 64}, "'frames' must be an integer from 1 to 1024"),
    ({"frames": True, "size": 64}, "'frames' must be an integer"),
])
def test_input_spec_mistakes_are_clear(entry, message):
    with pytest.raises(ModelSpecError, match=message):
        InputSpec.from_dict(entry, "spec.yaml: 'input'")


def test_yes_and_no_are_class_names_not_booleans(folder):
    net = nets().gray().eval()
    spec = write_spec(folder, net, "nets:gray", input={"frames": 8, "size": 32, "mean": [0.5], "std": [0.25]})
    spec.write_text(spec.read_text().replace("- a\n- b\n", "[no, yes]\n").replace("class_names:\n", "class_names: "))
    assert load_model(spec).class_names == ["no", "yes"]


# ---------------------------------------------------------------- a spec names code: trusted only

@pytest.mark.parametrize("factory", ["os:system", "subprocess:run", "builtins:eval", "pickle:loads",
                                     "torch.hub:load", "shutil:rmtree", "torch.nn:Identity"])
def test_untrusted_factories_are_refused_before_anything_runs(folder, factory):
    spec = {"factory": factory, "kwargs": {"command": "touch pwned", "args": ["touch", "pwned"]},
            "weights": "w.safetensors", "class_names": ["a"], "input": {"size": 32}}
    (folder / "s.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ModelSpecError, match=f"module '{factory.split(':')[0]}' is not trusted"):
        load_model(folder / "s.yaml")
    assert not (folder / "pwned").exists()


def test_trusting_a_module_by_name(folder, monkeypatch):
    spec = {"factory": "torch.nn:Identity", "weights": "w.safetensors", "class_names": ["a"],
            "input": {"size": 32}}
    save_file({"x": torch.zeros(1)}, str(folder / "w.safetensors"))
    with pytest.raises(ModelSpecError, match="has no parameters"):      # trusted: built, then checked
        load_model(spec, trust=("torch.nn",))
    monkeypatch.setenv("XAI_TRUST_MODULES", "torch")
    with pytest.raises(ModelSpecError, match="has no parameters"):
        load_model(spec)


def test_factories_must_build_modules(folder):
    with pytest.raises(ModelSpecError, match="declared to return int, not an nn.Module"):
        load_model(write_spec(folder, nets().gray(), "nets:not_a_model"))
    assert not (folder / "factory-ran").exists()                       # refused before calling
    (folder / "os.py").write_text("def system(command):\n    open('pwned', 'w')\n")
    with pytest.raises(ModelSpecError, match="not trusted"):           # a shadow of a system module
        load_model(write_spec(folder, nets().gray(), "os:system"))
    assert not (folder / "pwned").exists()


# ---------------------------------------------------------------- CAM layers as the model uses them

def recorder(acts):
    """A forward hook that keeps each output (with its gradient) and changes nothing."""
    def hook(module, inputs, output):
        output.retain_grad()
        acts.append(output)
    return hook


def _two_halves_case(folder):
    torch.manual_seed(0)
    net = nets().TwoHalves().eval()
    model = load_model(write_spec(folder, net, "nets:TwoHalves", cam_layer="backbone"))
    frames = np.full((8, 32, 32, 3), 128, np.uint8)                   # flat grey, then noise
    frames[4:] = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3))
    return model, from_frames(frames, model.spec).tensor[None]


def test_a_cam_layer_called_twice_is_read_across_both_calls(folder):
    model, x = _two_halves_case(folder)
    assert any("runs 2 times" in n for n in model.info.notes)
    with torch.no_grad():
        k = int(model(x).argmax())
    ours = run_method("grad_cam", model, x, torch.tensor([k]))[0]
    acts = []
    handle = model.net.backbone.register_forward_hook(recorder(acts))
    try:
        model(x)[0, k].backward()
    finally:
        handle.remove()
    A = torch.cat([a.detach() for a in acts], 2)                       # (1, C, T, H, W): calls joined in time
    G = torch.cat([a.grad for a in acts], 2)
    ref = F.relu((G.mean((2, 3, 4), keepdim=True) * A).sum(1, keepdim=True))
    ref = F.interpolate(ref, size=x.shape[2:], mode="trilinear", align_corners=False)[0, 0]
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6 * float(ref.abs().max()))
    assert float(ours[:4].sum()) < 0.1 * float(ours.sum())             # not on the flat grey half


def test_calls_that_cannot_be_joined_are_refused(folder):
    net = nets().TwoScales().eval()
    model = load_model(write_spec(folder, net, "nets:TwoScales", cam_layer="backbone"))
    x = torch.randn(1, 3, 8, 32, 32)
    with pytest.raises(MethodError, match="runs 2 times per forward pass with outputs of different shapes"):
        run_method("grad_cam", model, x, torch.tensor([0]))


def test_channels_last_layer_is_refused_or_read_in_its_declared_layout(folder):
    net = nets().ChannelsLast().eval()
    with pytest.raises(ModelSpecError, match=r"'cam_layer' 'block' outputs shape \(1, 4, 8, 8, 64\).*cam_layout"):
        load_model(write_spec(folder, net, "nets:ChannelsLast", cam_layer="block"))
    model = load_model(write_spec(folder, net, "nets:ChannelsLast", cam_layer="block", cam_layout="NTHWC"))
    x = torch.randn(1, 3, 8, 32, 32)
    r = run_method("grad_cam", model, x, torch.tensor([1]))[0]
    acts = []                                                          # reference: permute, then Grad-CAM
    handle = model.net.block.register_forward_hook(recorder(acts))
    try:
        model(x)[0, 1].backward()
    finally:
        handle.remove()
    A, G = acts[0].detach().permute(0, 4, 1, 2, 3), acts[0].grad.permute(0, 4, 1, 2, 3)
    ref = F.relu((G.mean((2, 3, 4), keepdim=True) * A).sum(1, keepdim=True))
    ref = F.interpolate(ref, size=x.shape[2:], mode="trilinear", align_corners=False)[0, 0]
    torch.testing.assert_close(r, ref, rtol=1e-4, atol=1e-6 * float(ref.abs().max()))


def test_the_guessed_cam_layer_is_never_the_stem(folder):
    model = load_model(write_spec(folder, nets().ChannelsLast(), "nets:ChannelsLast"))
    assert model.info.cam_layer is None                                # only the patch embedding fits NCTHW
    assert any("no CAM layer found" in n for n in model.info.notes)
    with pytest.raises(MethodError, match="declares no CAM layer"):
        run_method("grad_cam", model, torch.randn(1, 3, 8, 32, 32), torch.tensor([0]))
    torch.manual_seed(0)
    r3d = load_model(write_spec(folder, nets().r3d(), "nets:r3d", classes="abc"))
    assert r3d.info.cam_layer == "layer4"                              # the deepest space-time map
    assert "stem" not in r3d.layer_names() and "stem.0" not in r3d.layer_names()


def test_torchvision_swin_reads_its_channels_last_features(tmp_path):
    torch.manual_seed(0)
    net = torchvision.models.video.swin3d_t(num_classes=2).eval()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    model = load_model({"factory": "torchvision.models.video:swin3d_t", "kwargs": {"num_classes": 2},
                        "weights": str(tmp_path / "w.safetensors"), "class_names": ["a", "b"],
                        "input": {"frames": 8, "size": 64}})
    assert (model.info.cam_layer, model.info.cam_layout) == ("features", "NTHWC")
    r = run_method("grad_cam", model, torch.randn(1, 3, 8, 64, 64), torch.tensor([0]))
    assert r.shape == (1, 8, 64, 64) and torch.isfinite(r).all()


# ---------------------------------------------------------------- copies

def test_a_loaded_model_can_be_copied_and_pickled():
    model = load_model("c3d_small")
    x = torch.randn(1, 3, 16, 64, 64)
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert twin.lock is not model.lock and twin.name == model.name
        with twin.lock, torch.no_grad():
            torch.testing.assert_close(twin(x), model(x), rtol=0, atol=0)


# ---------------------------------------------------------------- fuzz: any spec is a model or one error

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from xai_core.errors import XaiError  # noqa: E402

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12) | st.sampled_from(["nets:gray", "os:system", "nets:", ":", "a:b:c", "w.safetensors",
                                             "/", "..", "gray", "NTHWC", "layer4", "0", "64", "1e9"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8)
_input_values = st.fixed_dictionaries({}, optional={
    "frames": st.integers(-2, 40) | _values, "size": st.integers(-2, 80) | _values,
    "height": st.integers(-2, 80) | _values, "width": st.integers(-2, 80) | _values,
    "mean": st.lists(st.floats(-2, 2), min_size=1, max_size=4) | _values,
    "std": st.lists(st.floats(-1, 2), min_size=1, max_size=4) | _values,
    "channels": st.sampled_from(["gray", "RGB", "BGR", "rgb"]) | _values}) | _values
_spec_changes = st.fixed_dictionaries({}, optional={
    "factory": _values, "kwargs": _values, "weights": _values, "class_names": _values, "input": _input_values,
    "cam_layer": st.sampled_from(["0", "1", "3", "5", "nope"]) | _values, "cam_layout": _values,
    "state_dict_key": _values, "strict": _values, "name": _values, "extra_key": _values})


@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=_spec_changes, drop=st.sets(st.sampled_from(["factory", "weights", "class_names", "input"])))
def test_fuzzed_specs_load_or_give_one_clear_error(folder, changes, drop):
    """Random values for every key of a working gray-model spec: a model, or an XaiError; never another exception."""
    net = nets().gray().eval()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "w.safetensors"))
    spec = {"factory": "nets:gray", "weights": "w.safetensors", "class_names": ["a", "b"],
            "input": {"frames": 4, "size": 16, "mean": [0.5], "std": [0.25]}, **changes}
    for key in drop:
        spec.pop(key, None)
    try:
        text = yaml.safe_dump(spec)
    except yaml.YAMLError:
        return
    (folder / "fuzz.yaml").write_text(text)
    try:
        model = load_model(folder / "fuzz.yaml")
    except XaiError as e:
        assert str(e).startswith(str(folder / "fuzz.yaml")) and "\n" not in str(e)
        return
    with torch.no_grad():
        assert model(torch.zeros(1, *model.spec.shape)).shape == (1, len(model.class_names))


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_fuzzed_yaml_text_is_a_model_or_one_error(folder, text):
    (folder / "raw.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    with pytest.raises(XaiError):
        load_model(folder / "raw.yaml")
