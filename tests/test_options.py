"""Method options: one validator, read from the signatures and declared bounds, for the CLI, the UI
and the API; the work caps; the declared work against the forward passes a method really makes.

Parametrized over the registry: a new method's options are tested the moment it is registered.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from xai_core.errors import MethodError, XaiError
from xai_core.methods import OptionSpec, get_method, list_methods, run_method, validate_options
from xai_core.methods.options import MAX_BATCH_BYTES, MAX_PASSES, option_specs, passes_per_clip

METHODS = [m.name for m in list_methods()]
OPTIONS = [(m.name, o) for m in list_methods() for o in m.option_specs]
SMALL = (1, 3, 16, 64, 64)                          # the bundled models' grid: N, C, T, H, W
LARGE = (1, 3, 64, 224, 224)                        # an I3D-sized clip


def bad_values(spec: OptionSpec) -> list:
    """Values an option must refuse, from its own declaration."""
    numeric = {"int", "float"} & set(spec.types) or spec.element
    bad = [object(), {"a": 1}, b"1"]
    if "bool" not in spec.types:
        bad.append(True)
    if numeric:
        bad += [float("nan"), float("inf"), -float("inf"), 10 ** 400]
        if spec.low is not None:
            bad.append(spec.low - 1)
        if spec.high is not None:
            bad.append(spec.high + 1)
    if "int" in spec.types:
        bad.append(1.5)
    if not numeric:
        bad.append(1)
    if "str" not in spec.types:
        bad.append("1")
    elif spec.choices:
        bad.append("no-such-choice")
    if "tuple" in spec.types:
        element = spec.low if spec.low is not None else 1
        bad += [(element,) * (spec.length - 1), (element,) * (spec.length + 1), (element,) * (spec.length - 1) + ("1",),
                (element,) * (spec.length - 1) + (float("nan"),), (element,) * (spec.length - 1) + (True,)]
    elif numeric:
        bad.append((1, 1, 1))
    if "none" not in spec.types:
        bad.append(None)
    return bad


# ---- declarations ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", METHODS)
def test_every_option_is_declared_and_its_default_passes(name):
    info = get_method(name)
    assert set(info.option_specs) == set(info.options)
    for option, spec in info.option_specs.items():
        assert spec.check(spec.default, name) == spec.default
        if {"int", "float"} & set(spec.types) or spec.element:
            assert spec.low is not None and spec.high is not None, f"{name}.{option} has no bounds"
        d = spec.to_dict()
        assert {"types", "default", "min", "max"} <= set(d)
    assert validate_options(info, {}, SMALL) == {}
    assert validate_options(info, dict(info.options), SMALL) is not None   # defaults on the bundled grid
    assert validate_options(info, dict(info.options), LARGE) is not None   # and on an I3D-sized clip


@pytest.mark.parametrize("name, option", OPTIONS)
def test_each_bad_value_is_one_clear_error(name, option):
    """The error names the method, the option, what was given and what is allowed."""
    spec = get_method(name).option_specs[option]
    for value in bad_values(spec):
        with pytest.raises(MethodError) as e:
            validate_options(name, {option: value}, SMALL)
        text = str(e.value)
        assert f"method {name!r}" in text and f"option {option!r}" in text, text
        assert "got " in text and f"allowed: {spec.allowed()}" in text, text


@pytest.mark.parametrize("name, option", OPTIONS)
def test_bounds_are_inclusive_and_types_convert(name, option):
    spec = get_method(name).option_specs[option]
    kind = int if "int" in spec.types or spec.element == "int" else float
    for bound in (spec.low, spec.high):
        if bound is None:
            continue
        given = bound if {"int", "float"} & set(spec.types) else [bound] * spec.length
        value = validate_options(name, {option: given}, None)[option]
        for item in (value if isinstance(value, tuple) else (value,)):
            assert item == bound and type(item) is kind
    if "float" in spec.types:                                    # an int is a float
        whole = math.ceil(spec.low) if spec.low is not None and spec.low > 0 else 0   # the least whole value allowed
        assert type(validate_options(name, {option: whole}, None)[option]) is float
    if "tuple" in spec.types:                                    # a list is a tuple
        item = int(spec.low)
        assert validate_options(name, {option: [item] * spec.length}, None)[option] == (item,) * spec.length


def test_unknown_option_names_the_method_and_its_options():
    with pytest.raises(MethodError, match=r"method 'occlusion': unknown option\(s\) \['steps'\]; options: window"):
        validate_options("occlusion", {"steps": 3}, SMALL)


# ---- declarations that a method's author gets wrong fail at registration ---------------------

def test_bad_declarations_are_refused_at_registration():
    def method(model, video, target, *, steps: int = 4, name: str = "a"):
        """Doc."""

    assert option_specs(method, {"steps": (1, 8)})["steps"].high == 8
    with pytest.raises(TypeError, match="unknown option"):
        option_specs(method, {"stpes": (1, 8)})
    with pytest.raises(TypeError, match="non-numeric"):
        option_specs(method, {"name": (1, 8)})
    with pytest.raises(TypeError, match="breaks its own declaration"):
        option_specs(method, {"steps": (5, 8)})

    def untyped(model, video, target, *, fn: callable = print):
        """Doc."""
    with pytest.raises(TypeError, match="cannot validate"):
        option_specs(untyped)


# ---- work caps --------------------------------------------------------------------------------

def test_pass_cap_names_the_options_and_the_limit():
    ok = validate_options("occlusion", {"window": 1, "stride": 1}, SMALL)   # 65,537 passes on 16 x 64 x 64
    assert ok == {"window": 1, "stride": 1}
    with pytest.raises(MethodError) as e:                                   # 200,705 on 16 x 112 x 112
        validate_options("occlusion", {"window": 1, "stride": 1}, (1, 3, 16, 112, 112))
    text = str(e.value)
    assert "'occlusion'" in text and "window=1, stride=1" in text and "200,705" in text
    assert f"{MAX_PASSES:,}" in text


def test_the_default_options_stay_under_the_caps_on_large_clips():
    info = get_method("occlusion")                                         # 22,600 windows on 64 x 224 x 224
    assert passes_per_clip(info, info.options, LARGE) == 1 + 31 * 27 * 27 <= MAX_PASSES


def test_batch_memory_cap_says_how_many_clips_fit():
    clip_bytes = 3 * 64 * 224 * 224 * 4
    fit = MAX_BATCH_BYTES // clip_bytes                                     # 27
    validate_options("smoothgrad", {"batch_size": fit, "samples": 64}, LARGE)
    with pytest.raises(MethodError, match=rf"option 'batch_size': got {fit + 1}.*at most {fit}"):
        validate_options("smoothgrad", {"batch_size": fit + 1, "samples": 64}, LARGE)
    # never more clips in a batch than there are: 4 samples of one clip need 4 clips of memory
    validate_options("smoothgrad", {"batch_size": 4096, "samples": 4}, LARGE)


def test_run_method_validates_before_any_work():
    calls = []

    class Counting(nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return x.flatten(1)[:, :3]

    with pytest.raises(MethodError, match="option 'samples'"):
        run_method("smoothgrad", Counting(), torch.zeros(1, 3, 4, 8, 8), torch.zeros(1), samples=float("nan"))
    assert calls == []


class Tiny(nn.Module):
    """A small nonlinear 3D net that counts the clips it is given (passes = clips / N)."""

    cam_layer = "conv"

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        self.clips = 0

    def forward(self, x):
        self.clips += x.shape[0]
        return self.head(torch.tanh(self.conv(x)).mean((2, 3, 4)))


# worst cases of each method's work: integrated gradients refines every clip (tolerance 0)
WORST = {"integrated_gradients": dict(steps=3, max_steps=20, tolerance=0.0),
         "smoothgrad": dict(samples=5, batch_size=3),
         "occlusion": dict(window=(2, 3, 4), stride=(1, 2, 3), batch_size=5),
         "temporal_occlusion": dict(segment=2, batch_size=4),
         "kernel_shap": dict(n_samples=7, batch_size=3), "lime": dict(n_samples=7, batch_size=3)}


@pytest.mark.parametrize("name", METHODS)
def test_declared_work_is_the_passes_a_method_makes(name):
    """The declared work function counts the forward passes the method really runs (worst case)."""
    N, shape = 2, (2, 3, 5, 8, 9)
    model, video = Tiny(), torch.randn(shape, generator=torch.Generator().manual_seed(1))
    options = WORST.get(name, {})
    info = get_method(name)
    run_method(name, model, video, torch.tensor([0, 2]), **options)
    declared = passes_per_clip(info, {**info.options, **options}, shape)
    # integrated gradients runs f(x), f(baseline) as 2 batched passes of N clips each
    assert model.clips == N * declared, (model.clips, N, declared)


# ---- fuzz: any option value either validates into its declaration or is one MethodError -------

values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                      lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner, inner),
                      max_leaves=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(OPTIONS), values, st.sampled_from([SMALL, LARGE]))
def test_fuzz_values_validate_or_raise_method_error(option, value, shape):
    name, key = option
    try:
        checked = validate_options(name, {key: value}, shape)
    except MethodError as e:
        assert f"method {name!r}" in str(e)
        return
    spec = get_method(name).option_specs[key]
    v = checked[key]
    assert validate_options(name, checked, shape) == checked                # idempotent
    for item in (v if isinstance(v, tuple) else (v,)):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            assert math.isfinite(item)
            assert spec.low is None or item >= spec.low
            assert spec.high is None or item <= spec.high


@pytest.fixture(scope="module")
def small_model():
    from xai_core import load_model
    return load_model("c3d_small")


option_text = st.one_of(st.text(max_size=20), st.sampled_from(
    ["NaN", "-Infinity", "1e999", "[1, 2]", "[1,2,3]", "[[1]]", "true", "null", '"64"', "64", "-1",
     "0.5", "1e-300", "black", "mean", "freeze", "[NaN]", "{}", "9" * 40]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(METHODS), key=st.sampled_from(sorted({o for _, o in OPTIONS} | {"", "bogus"})),
       text=option_text)
def test_fuzz_cli_option_strings_are_one_error_line(name, key, text, small_model, tmp_path_factory,
                                                    monkeypatch, capsys):
    """--option KEY=TEXT through the CLI up to decoding: exit 2 and one `error:` line, never a traceback."""
    import xai_core
    from xai_core.cli import main

    def stop(*args, **kwargs):
        raise XaiError("reached decoding")

    monkeypatch.setattr(xai_core, "load_model", lambda *a, **k: small_model)
    monkeypatch.setattr(xai_core, "load_video", stop)
    out = tmp_path_factory.mktemp("out")
    code = main(["explain", "clip.mp4", "--model", "c3d_small", "--method", name,
                 "--option", f"{key}={text}", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
