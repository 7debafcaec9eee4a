"""The CLI contract of docs (design.md): outputs of explain, --json listings, exit 2 on bad input."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xai_core.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "samples" / "synthetic" / "sit_down.mp4"


def test_models_and_methods_json(capsys):
    assert main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert {m["name"] for m in models} >= {"c3d_small", "r2plus1d_small", "frame2d_pool", "cnn_lstm"}
    assert main(["methods", "--json"]) == 0
    methods = json.loads(capsys.readouterr().out)
    from xai_core import list_methods
    assert [m["name"] for m in methods] == [m.name for m in list_methods()]
    assert all({"cost", "needs_gradients", "box", "native_video", "label"} <= set(m) for m in methods)


def test_explain_writes_the_contract(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["explain", str(SAMPLE), "--model", "c3d_small", "--method", "grad_cam", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["model"] == "c3d_small" and result["method"] == "grad_cam"
    assert set(result["target"]) == {"index", "label"}
    assert set(result["predicted"]) == {"index", "label", "probability"}
    assert abs(sum(result["probabilities"]) - 1) < 1e-4
    assert result["input"]["frames"] == 16 and len(result["input"]["source_indices"]) == 16
    assert set(result["timings_ms"]) == {"decode", "forward", "explain", "render", "total"}
    relevance = np.load(out / "relevance.npy")
    assert relevance.dtype == np.float32 and relevance.shape == (16, 64, 64)
    for name in ("tube.png", "curve.png", "overlay.webm"):
        assert (out / name).stat().st_size > 1000, name
    assert result["target"]["index"] == result["predicted"]["index"]   # target defaults to the prediction


def test_explain_with_target_label_and_option(tmp_path):
    out = tmp_path / "o"
    assert main(["explain", str(SAMPLE), "--model", "c3d_small", "--method", "temporal_occlusion",
                 "--target", "stand_up", "--option", "segment=2", "--out", str(out), "--format", "mp4"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["target"] == {"index": 3, "label": "stand_up"} and result["options"] == {"segment": 2}
    assert (out / "overlay.mp4").exists()


@pytest.mark.parametrize("args, message", [
    (["explain", "missing.mp4", "--model", "c3d_small", "--method", "grad_cam", "--out", "o"], "missing.mp4"),
    (["explain", str(SAMPLE), "--model", "nope", "--method", "grad_cam", "--out", "o"], "unknown model 'nope'"),
    (["explain", str(SAMPLE), "--model", "c3d_small", "--method", "lime2", "--out", "o"], "unknown method 'lime2'"),
    (["explain", str(SAMPLE), "--model", "c3d_small", "--method", "grad_cam", "--target", "fly", "--out", "o"],
     "unknown target 'fly'"),
    (["explain", str(SAMPLE), "--model", "c3d_small", "--method", "grad_cam", "--option", "bogus=1", "--out", "o"],
     "unknown option"),
    (["explain", str(SAMPLE), "--model", "c3d_small", "--method", "grad_cam"], "--out"),
    (["train", "--model", "nope"], "unknown model 'nope'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


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
