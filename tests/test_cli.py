"""The CLI contract of docs (design.md): outputs of explain, --json listings, exit 2 on bad input."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

import xai_core
from xai_core.cli import main

from .limits import time_limit

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "samples" / "synthetic" / "sit_down.mp4"


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as strict parsers (browsers, jq, Go) do."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_models_and_methods_json(capsys):
    assert main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert {m["name"] for m in models} >= {"c3d_small", "r2plus1d_small", "frame2d_pool", "cnn_lstm"}
    assert main(["methods", "--json"]) == 0
    methods = json.loads(capsys.readouterr().out)
    from xai_core import list_methods
    assert [m["name"] for m in methods] == [m.name for m in list_methods()]
    assert all({"cost", "needs_gradients", "box", "native_video", "label"} <= set(m) for m in methods)
    # the UI sets each widget's range from these
    specs = {m["name"]: m["option_specs"] for m in methods}
    assert specs["integrated_gradients"]["steps"] == {"types": ["int"], "default": 8, "min": 1, "max": 1024}
    assert specs["occlusion"]["window"]["length"] == 3
    assert specs["temporal_occlusion"]["baseline"]["choices"] == ["mean", "freeze"]
    assert all(s["min"] is not None and s["max"] is not None for m in specs.values() for s in m.values()
               if {"int", "float", "tuple"} & set(s["types"]))


def test_explain_writes_the_contract(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["explain", str(SAMPLE), "--model", "c3d_small", "--method", "grad_cam", "--out", str(out)]) == 0
    result = strict_json((out / "result.json").read_text())
    assert result["model"] == "c3d_small" and result["method"] == "grad_cam"
    assert set(result["target"]) == {"index", "label"}
    assert set(result["predicted"]) == {"index", "label", "probability"}
    # softmax over K classes: K float32 exponentials (<= 2 ulp each), their sum (K roundings) and
    # a division per entry; adding the K entries up rounds K times more: under 4 (K + 2) eps
    K = len(result["probabilities"])
    assert abs(sum(result["probabilities"]) - 1) < 4 * (K + 2) * np.finfo(np.float32).eps
    assert result["input"]["frames"] == 16 and len(result["input"]["source_indices"]) == 16
    assert result["input"]["sampling"] == {"mode": "spread", "model_fps": None, "source_fps": 8.0,
                                           "source_frames": [0, 15], "seconds": [0.0, 2.0]}
    assert set(result["timings_ms"]) == {"decode", "forward", "explain", "render", "total"}
    relevance = np.load(out / "relevance.npy")
    assert relevance.dtype == np.float32 and relevance.shape == (16, 64, 64)
    for name in ("tube.png", "curve.png", "overlay.webm"):
        assert (out / name).stat().st_size > 1000, name
    assert result["target"]["index"] == result["predicted"]["index"]   # target defaults to the prediction


def test_explain_split_writes_parts_and_reliance(tmp_path, capsys):
    """--split: split.npz parts add up to the relevance exactly, reliance.json's shares to 1, and
    the result's summary says what the score rests on (c3d_small relies on the order of frames
    for sit_down: playing the clip backwards turns it into stand_up)."""
    out = tmp_path / "o"
    assert main(["explain", str(SAMPLE), "--model", "c3d_small", "--method", "grad_cam", "--out", str(out),
                 "--split"]) == 0
    assert "relies on: order" in capsys.readouterr().out
    parts = np.load(out / "split.npz")
    assert parts["total"].dtype == np.float64 and str(parts["variant"]) == "counterfactual"
    assert np.array_equal(parts["spatial"] + parts["temporal"], parts["total"])
    np.testing.assert_allclose(parts["total"], np.load(out / "relevance.npy"), rtol=1e-6, atol=0)
    body = strict_json((out / "reliance.json").read_text())
    r = body["reliance"]
    assert abs(sum(r["shares"].values()) + r["remainder"] - 1) < 1e-12 and r["kind"] == "order"
    assert [c["name"] for c in r["counterfactuals"]][0] == "reversed"
    assert 0 <= body["split"]["temporal_share"] <= 1 and 0 <= body["moving_share"]["value"] <= 1
    result = strict_json((out / "result.json").read_text())
    assert result["reliance"]["kind"] == "order" and "relies on motion (the order of frames" in result["summary"]
    for name in ("spacetime_tube.png", "spacetime_legend.png", "spacetime.webm", "flow_tube.png", "flow_legend.png"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "flow_stream_tube.png").exists()           # c3d_small has no flow stream


def test_explain_with_target_label_and_option(tmp_path):
    out = tmp_path / "o"
    assert main(["explain", str(SAMPLE), "--model", "c3d_small", "--method", "temporal_occlusion",
                 "--target", "stand_up", "--option", "segment=2", "--out", str(out), "--format", "mp4"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["target"] == {"index": 3, "label": "stand_up"} and result["options"] == {"segment": 2}
    assert (out / "overlay.mp4").exists()


def test_an_expensive_method_estimates_and_draws_progress_on_stderr_unless_quiet(tmp_path, capsys):
    """Occlusion: '≈ N s' before it starts, then a bar per tenth (stderr is not a terminal here)
    ending at 100% of the passes; --quiet: neither; stdout the same either way."""
    args = ["explain", str(SAMPLE), "--model", "c3d_small", "--method", "occlusion",
            "--option", "window=[8,32,32]", "--option", "stride=[8,32,32]"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    said = capsys.readouterr()
    lines = said.err.splitlines()
    assert lines[0].startswith("occlusion on c3d_small: ") and "estimated from one timed pass" in lines[0]
    assert lines[0].split(": ")[1].split(" (")[0] in ("< 1 s", *(f"≈ {n} s" for n in range(1, 90)))
    bars = [line for line in lines if line.startswith("[")]
    assert bars[0].split("]")[1].strip().startswith("0%") and "100% 9 of 9 forward passes" in bars[-1], bars
    assert main([*args, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert not [line for line in quiet.err.splitlines() if line.startswith(("[", "occlusion on"))]
    assert quiet.out.replace(str(tmp_path / "b"), "") == said.out.replace(str(tmp_path / "a"), "")


def test_explain_at_the_models_frame_rate(tmp_path, capsys):
    """--sampling fps: a model spec with fps (c3d_small's net and weights, declared at 30 fps) takes
    16 consecutive frames of a 30 fps clip from its middle; result.json says so."""
    from xai_core.data.synthetic import CLASSES
    spec = tmp_path / "at30.yaml"
    spec.write_text(json.dumps({   # JSON is YAML
        "name": "c3d_at30", "factory": "xai_core.models.registry:c3d_small", "cam_layer": "block4",
        "weights": str(ROOT / "assets" / "weights" / "c3d_small.safetensors"),
        "class_names": list(CLASSES),
        "input": {"frames": 16, "size": 64, "mean": [0.45] * 3, "std": [0.25] * 3, "fps": 30}}))
    clip = ROOT / "assets" / "samples" / "intel_asl_thanks.mkv"          # 51 frames at 30 fps: 1.70 s
    out = tmp_path / "out"
    assert main(["explain", str(clip), "--model", str(spec), "--method", "grad_cam", "--out", str(out),
                 "--sampling", "fps"]) == 0
    body = strict_json((out / "result.json").read_text())["input"]
    assert body["source_indices"] == list(range(17, 33))                 # (51 - 16) // 2 = 17
    assert body["sampling"] == {"mode": "fps", "model_fps": 30.0, "source_fps": 30.0,
                                "source_frames": [17, 32], "seconds": [pytest.approx(17 / 30, abs=1e-4),
                                                                       pytest.approx(33 / 30, abs=1e-4)]}
    assert "16 frames at 30 fps span 0.53 s of 1.70 s (source frames 17–32)" in body["notes"]


EXPLAIN = ["explain", str(SAMPLE), "--model", "c3d_small", "--out", "o"]


def occlusion(*extra: str) -> list[str]:
    return EXPLAIN + ["--method", "occlusion", *extra]


# (arguments, a fragment of the message, the last stage that may run: "parse" = nothing is
# loaded, "model" = the model may load but no video is decoded, "video" = anything)
BAD = [
    # argparse mistakes
    ([], "a command is needed", "parse"),
    (["frobnicate"], "invalid choice", "parse"),
    (["explain", str(SAMPLE), "--model", "c3d_small", "--method", "grad_cam"], "--out", "parse"),
    (["explain", str(SAMPLE), "--method", "grad_cam", "--out", "o"], "--model", "parse"),
    (occlusion("--format", "gif"), "invalid choice: 'gif'", "parse"),
    (occlusion("--bogus"), "unrecognized arguments: --bogus", "parse"),
    (occlusion("--sampling", "time"), "argument --sampling: invalid choice: 'time'", "parse"),
    (occlusion("--sampling", "FPS"), "invalid choice: 'FPS' (choose from 'spread', 'fps')", "parse"),
    (occlusion("--sampling"), "argument --sampling: expected one argument", "parse"),
    (["train", "--model", "c3d_small", "--epochs", "0"], "not a positive whole number", "parse"),
    (["train", "--model", "c3d_small", "--max-minutes", "nan"], "not a positive number", "parse"),
    (["train", "--model", "nope"], "unknown model 'nope'", "parse"),
    # names
    (EXPLAIN + ["--method", "lime2"], "unknown method 'lime2'", "parse"),
    (EXPLAIN + ["--method", "grad_cam", "--target", "fly"], "unknown target 'fly'", "model"),
    (EXPLAIN + ["--method", "grad_cam", "--target", "99"], "target 99 out of range", "model"),
    (EXPLAIN + ["--method", "grad_cam", "--sampling", "fps"],
     "--sampling fps: model c3d_small declares no frame rate (its input spec has no fps); use --sampling spread",
     "model"),
    (["explain", str(SAMPLE), "--model", "nope", "--method", "grad_cam", "--out", "o"], "unknown model 'nope'",
     "model"),
    (["explain", "missing.mp4", "--model", "c3d_small", "--method", "grad_cam", "--out", "o"], "missing.mp4",
     "video"),
    (EXPLAIN + ["--method", "grad_cam", "--split", "wiggle"], "unknown split variant 'wiggle'", "parse"),
    (EXPLAIN + ["--method", "grad_cam", "--split", "--flow-method", "lime2"], "unknown method 'lime2'", "parse"),
    # options: syntax, type, range, finiteness, work
    (occlusion("--option", "bogus=1"), "unknown option(s) ['bogus']", "parse"),
    (occlusion("--option", "window"), "--option needs KEY=VALUE", "parse"),
    (occlusion("--option", "window=2", "--option", "window=3"), "given twice", "parse"),
    (occlusion("--option", "baseline=NaN"), "NaN and infinities are not allowed", "parse"),
    (occlusion("--option", "baseline=-Infinity"), "NaN and infinities are not allowed", "parse"),
    (occlusion("--option", "baseline=1e999"), "NaN and infinities are not allowed", "parse"),
    (occlusion("--option", "window=[4, NaN, 4]"), "NaN and infinities are not allowed", "parse"),
    (occlusion("--option", "window=[4, 16]"), "option 'window': got (4, 16) (tuple); allowed: an integer "
                                              "from 1 to 4096 or 3 integers from 1 to 4096", "parse"),
    (occlusion("--option", "batch_size=true"), "option 'batch_size': got True", "parse"),
    (occlusion("--option", "batch_size=2.5"), "option 'batch_size': got 2.5", "parse"),
    (occlusion("--option", 'batch_size="16"'), "option 'batch_size': got '16'", "parse"),
    (occlusion("--option", "stride=0"), "option 'stride': got 0", "parse"),
    (occlusion("--option", "baseline=white"), "allowed: a finite number from -1000 to 1000 or one of 'black'",
     "parse"),
    (EXPLAIN + ["--method", "integrated_gradients", "--option", "steps=100000"],
     "option 'steps': got 100000; allowed: an integer from 1 to 1024", "parse"),
    (EXPLAIN + ["--method", "smoothgrad", "--option", "samples=4096", "--option", "batch_size=4096"],
     "option 'batch_size': got 4096", "model"),
    # devices
    (occlusion("--device", "bogus"), "--device 'bogus' is not a device", "parse"),
    (occlusion("--device", ""), "is not a device", "parse"),
    (occlusion("--device", "cuda:-1"), "is not a device", "parse"),
    (occlusion("--device", "meta"), "meta devices are not supported", "parse"),
    (occlusion("--device", "cpu:1"), "one CPU device", "parse"),
    (occlusion("--device", f"cuda:{torch.cuda.device_count()}"),
     "CUDA is not available" if not torch.cuda.is_available() else f"has {torch.cuda.device_count()} CUDA",
     "parse"),
    *[(occlusion("--device", d), f"{d.upper()} is not available", "parse")
      for d in ("cuda", "mps", "xpu") if not (torch.cuda.is_available() if d == "cuda" else
                                             torch.backends.mps.is_available() if d == "mps" else
                                             hasattr(torch, "xpu") and torch.xpu.is_available())],
]


@contextmanager
def stages_after(stage: str, monkeypatch):
    """Make loading the model (after "parse") or decoding the video (after "model") fail the test."""
    def too_far(*args, **kwargs):
        raise AssertionError(f"work started after a mistake that the {stage} stage should catch")
    if stage == "parse":
        monkeypatch.setattr(xai_core, "load_model", too_far)
    if stage in ("parse", "model"):
        monkeypatch.setattr(xai_core, "load_video", too_far)
    yield


@pytest.mark.parametrize("args, message, stage", BAD, ids=[" ".join(a[3:] if a[:1] == ["explain"] else a)[:60]
                                                          for a, _, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(args, message, stage, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with stages_after(stage, monkeypatch), time_limit(120):
        assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()                      # nothing written


# ---- output folders, checked before any work ---------------------------------------------------

@contextmanager
def unprivileged():
    """Run as user `nobody` if we are root (root writes into any folder, whatever its mode)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def world_dir():
    """A fresh folder under /tmp that `nobody` can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="xai-cli-"))
    path.chmod(0o755)
    yield path
    for p in sorted(path.rglob("*"), reverse=True):
        p.chmod(0o755) if p.is_dir() else None
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("case", ["read-only folder", "read-only parent", "read-only result file",
                                  "result.json is a folder", "under a file", "is a file", "link loop"])
def test_unwritable_output_is_refused_before_any_work(case, world_dir, capsys, monkeypatch):
    out = world_dir / "out"
    message = {"read-only folder": "not writable", "read-only parent": "is not writable",
               "read-only result file": "result.json exists there and cannot be overwritten",
               "result.json is a folder": "result.json exists there and cannot be overwritten",
               "under a file": "is a file, not a directory", "is a file": "exists and is not a directory",
               "link loop": "link loop"}[case]
    if case == "read-only folder":
        out.mkdir(mode=0o555)
        out.chmod(0o555)
    elif case == "read-only parent":
        world_dir.chmod(0o555)
    elif case == "read-only result file":
        out.mkdir()
        (out / "result.json").write_text("{}")
        (out / "result.json").chmod(0o444)
    elif case == "result.json is a folder":
        (out / "result.json").mkdir(parents=True)
    elif case == "under a file":
        (world_dir / "file").write_text("x")
        out = world_dir / "file" / "out"
    elif case == "is a file":
        out.write_text("x")
    else:
        out.symlink_to(world_dir / "loop")
        (world_dir / "loop").symlink_to(out)
    with stages_after("parse", monkeypatch), unprivileged():
        code = main(["explain", str(SAMPLE), "--model", "c3d_small", "--method", "grad_cam", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --out ") and message in err and err.count("\n") == 1, err


# ---- results that are not finite are never written ----------------------------------------------

def nan_model():
    """The bundled c3d_small with NaN in its last layer, as a corrupt checkpoint would have."""
    from torch import nn

    from xai_core.models.loader import load_model

    model = load_model("c3d_small")
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.fill_(float("nan"))
    return model


def test_a_nan_model_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(xai_core, "load_model", lambda *a, **k: nan_model())
    out = tmp_path / "o"
    assert main(["explain", str(SAMPLE), "--model", "c3d_small", "--method", "grad_cam", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model 'c3d_small': its scores on this clip are not finite") and \
        err.count("\n") == 1, err
    assert not out.exists()


def test_infinite_relevance_writes_nothing(tmp_path, capsys, monkeypatch):
    from xai_core.methods import register_method, registry

    registry._load_builtin()
    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))

    @register_method("overflowing", "Overflowing")
    def overflowing(model, video, target):
        """Relevance that overflows."""
        return torch.full(video.shape[:1] + video.shape[2:], float("inf"))

    out = tmp_path / "o"
    assert main(["explain", str(SAMPLE), "--model", "c3d_small", "--method", "overflowing", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: method 'overflowing': relevance is not finite") and err.count("\n") == 1, err
    assert not out.exists()


def test_result_json_is_strict_with_non_finite_extras():
    """A NaN or inf in extras (e.g. a completeness gap) is null with a note, never bare NaN."""
    from xai_core.data.synthetic import CLASSES
    from xai_core.relevance.explanation import Explanation
    from xai_core.relevance.export import result_json, strict_dumps, to_json, to_json_many

    K = len(CLASSES)
    exp = Explanation(np.ones((4, 8, 8), np.float32), 0, np.full(K, 1 / K), list(CLASSES),
                      "integrated_gradients", "m", {"window": (2, 4, 4)},
                      extras={"completeness_gap": float("nan"), "peak": np.float32("inf"), "ok": 0.5})
    for text in (strict_dumps(result_json(exp)), to_json(exp), to_json_many([exp, exp])):
        body = strict_json(text)
        assert "extras.completeness_gap: nan written as null" in text and "inf written as null" in text
    body = strict_json(strict_dumps(result_json(exp)))
    assert body["extras"] == {"completeness_gap": None, "peak": None, "ok": 0.5}
    assert body["options"] == {"window": [2, 4, 4]}                     # a tuple is a list, not "(2, 4, 4)"
    assert len(body["notes"]) == 2


def test_real_process_has_no_traceback(tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video")
    run = subprocess.run([sys.executable, "-m", "xai_core", "explain", str(bogus), "--model", "c3d_small",
                          "--method", "grad_cam", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    assert "notes.mp4" in run.stderr


def test_train_smoke(tmp_path, capsys):
    """One tiny batch through the training pipeline (accuracy is not the point)."""
    assert main(["train", "--model", "frame2d_pool", "--smoke", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "frame2d_pool.safetensors").exists()
    assert (tmp_path / "frame2d_pool.checkpoints.safetensors").exists()


def test_device_index_beyond_the_gpus_present(monkeypatch):
    """On a machine with one GPU (simulated here; checked on a real one too), cuda:7 is refused."""
    from xai_core.cli import check_device
    from xai_core.errors import XaiError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert check_device("cuda:0") == torch.device("cuda", 0) and check_device("cuda").index is None
    with pytest.raises(XaiError, match=r"--device cuda:7: this machine has 1 CUDA device\(s\), cuda:0 to cuda:0"):
        check_device("cuda:7")
