"""Bad model specs through the CLI: every one is exit 2 and one `error: ...` line naming the spec,
within a time limit, before a video is decoded; a spec never runs code from an untrusted module.

(Bad options, devices and output folders: tests/test_cli.py. Bad video files:
tests/test_decode_files.py. The loader itself, in-process: tests/test_loading.py.)
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

import xai_core
from xai_core.cli import main

from .limits import time_limit

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "samples" / "synthetic" / "jump.mp4"
LIMIT_S = 120                                  # per case; a hang fails the test instead of the suite

NETS = '''
import torch
from torch import nn


def gray(num_classes=2):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1),
                         nn.Flatten(), nn.Linear(4, num_classes))


def rgb(num_classes=2):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1),
                         nn.Flatten(), nn.Linear(4, num_classes))


def fixed_pool(num_classes=2):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(3, 4, 3, stride=2, padding=1), nn.AvgPool3d((8, 32, 32)),
                         nn.Flatten(), nn.Linear(4, num_classes))


def identity():
    return nn.Identity()


def linear():
    return nn.Linear(4, 2)


def broken(num_classes=2):
    raise RuntimeError("cannot build")


def run_system(command="touch pwned"):
    import os
    os.system(command)
    return rgb()
'''

BASE = {"name": "user", "factory": "nets:rgb", "weights": "rgb.safetensors", "class_names": ["a", "b"],
        "input": {"frames": 8, "size": 32}}

# (what changes in the spec, a fragment of the error, extra CLI arguments)
CASES = {
    "size has three values": ({"input": {"frames": 8, "size": [64, 64, 3]}}, "'size' must be an integer or", ()),
    "size is a string": ({"input": {"frames": 8, "size": "64"}}, "got '64'", ()),
    "mean is not finite": ({"input": {"size": 32, "mean": [0.5, ".nan", 0.5]}}, "'mean' must be", ()),
    "one-channel net, RGB spec": ({"factory": "nets:gray", "weights": "gray.safetensors"},
                                  "first convolution takes 1 channel(s) but the spec gives 3", ()),
    "RGB net, gray spec": ({"input": {"size": 32, "mean": [0.5], "std": [0.25]}},
                           "first convolution takes 3 channel(s) but the spec gives 1", ()),
    "pool larger than the map": ({"factory": "nets:fixed_pool", "weights": "fixed_pool.safetensors"},
                                 "forward pass fails on a clip of the spec's shape (1, 3, 8, 32, 32)", ()),
    "no parameters (untrusted)": ({"factory": "torch.nn:Identity"}, "module 'torch.nn' is not trusted", ()),
    "no parameters (trusted)": ({"factory": "torch.nn:Identity"}, "has no parameters",
                                ("--trust-module", "torch.nn")),
    "no parameters (own code)": ({"factory": "nets:identity"}, "has no parameters", ()),
    "forward fails (own code)": ({"factory": "nets:linear", "weights": "linear.safetensors"},
                                 "forward pass fails", ()),
    "forward fails (trusted)": ({"factory": "torch.nn:Linear", "kwargs": {"in_features": 4, "out_features": 2},
                                 "weights": "linear.safetensors"}, "forward pass fails", ("--trust-module", "torch")),
    "too few class names": ({"class_names": ["a"]}, "has 2 outputs but 1 class names", ()),
    "class names repeated": ({"class_names": ["a", "a"]}, "class names must be unique", ()),
    "factory fails": ({"factory": "nets:broken"}, "failed: cannot build", ()),
    "factory is os.system": ({"factory": "os:system", "kwargs": {"command": "touch pwned"}},
                             "module 'os' is not trusted", ()),
    "factory is subprocess": ({"factory": "subprocess:run", "kwargs": {"args": ["touch", "pwned"]}},
                              "module 'subprocess' is not trusted", ()),
    "factory is eval": ({"factory": "builtins:eval", "kwargs": {"source": "open('pwned','w')"}},
                        "module 'builtins' is not trusted", ()),
    "factory is torch.hub": ({"factory": "torch.hub:load", "kwargs": {"repo_or_dir": "x/y", "model": "m"}},
                             "module 'torch.hub' is not trusted", ()),
    "factory module missing": ({"factory": "nowhere_at_all:make"}, "cannot import module 'nowhere_at_all'", ()),
    "factory not module:callable": ({"factory": "nets.rgb"}, "'factory' must be 'module:callable'", ()),
    "factory callable missing": ({"factory": "nets:r5d"}, "has no 'r5d'", ()),
    "weights missing": ({"weights": "nope.safetensors"}, "not found", ()),
    "weights are a folder": ({"weights": "."}, "not a regular file", ()),
    "weights are a pickled module": ({"weights": "whole.pt"}, "weights_only=True", ()),
    "weights of another net": ({"weights": "gray.safetensors"}, "weights do not fit the model", ()),
    "weights are text": ({"weights": "notes.safetensors"}, "not a readable safetensors file", ()),
    "checkpoint with two fitting state dicts": ({"weights": "two.pt"}, "several state dicts", ()),
    "unknown key": ({"colour": "red"}, "unknown key(s) ['colour']", ()),
    "cam_layer missing": ({"cam_layer": "9"}, "'cam_layer' '9' is not a module", ()),
    "cam_layer pooled away": ({"cam_layer": "4"}, "'cam_layer' '4' outputs shape (1, 2)", ()),
    "cam_layout unknown": ({"cam_layout": "NHWTC"}, "'cam_layout' must be one of", ()),
    "strict is a string": ({"strict": "no"}, "'strict' must be true or false", ()),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A spec folder: the user's module nets.py (trusted: beside the spec) and weights files."""
    folder = tmp_path_factory.mktemp("specs")
    (folder / "nets.py").write_text(NETS)
    sys.path.insert(0, str(folder))
    try:
        import nets
        for name in ("gray", "rgb", "fixed_pool", "linear"):
            state = getattr(nets, name)().state_dict()
            save_file({k: v.contiguous() for k, v in state.items()}, str(folder / f"{name}.safetensors"))
        rgb = nets.rgb().state_dict()
        torch.save(nets.rgb(), folder / "whole.pt")
        torch.save({"model": rgb, "ema": {k: v.clone() for k, v in rgb.items()}}, folder / "two.pt")
        (folder / "notes.safetensors").write_text("not weights")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("nets", None)
    return folder


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_spec_is_exit_2_and_one_line(case, folder, tmp_path, capsys, monkeypatch):
    change, message, extra = CASES[case]
    spec = {**BASE, **change}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec).replace("'.nan'", ".nan"))
    for name in ("nets.py", *[p.name for p in folder.iterdir() if p.suffix in (".safetensors", ".pt")]):
        (tmp_path / name).symlink_to(folder / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(xai_core, "load_video", lambda *a, **k: pytest.fail("a video was decoded"))
    monkeypatch.setattr(sys, "path", list(sys.path))          # the spec folder's module, imported by
    sys.modules.pop("nets", None)                              # the loader, leaves nothing behind
    try:
        with time_limit(LIMIT_S):
            code = main(["explain", str(SAMPLE), "--model", str(path), "--method", "grad_cam",
                         "--out", str(tmp_path / "out"), *extra])
    finally:
        sys.modules.pop("nets", None)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: {path}") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()


def test_a_hostile_spec_in_a_real_process(folder, tmp_path):
    """The process as a user starts it: os.system named by a spec runs nothing; one line, exit 2."""
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({**BASE, "factory": "os:system",
                                                         "kwargs": {"command": f"touch {tmp_path / 'pwned'}"}}))
    run = subprocess.run([sys.executable, "-m", "xai_core", "explain", str(SAMPLE), "--model",
                          str(tmp_path / "spec.yaml"), "--method", "grad_cam", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, cwd=ROOT, timeout=LIMIT_S,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "is not trusted" in run.stderr, run.stderr
    assert not (tmp_path / "pwned").exists()


def test_a_function_in_a_trusted_module_still_runs_only_as_a_factory(folder, tmp_path, capsys, monkeypatch):
    """Trust is for the user's own code: a factory there runs (that is what trusting means)."""
    for name in ("nets.py", "rgb.safetensors"):
        (tmp_path / name).symlink_to(folder / name)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({**BASE, "factory": "nets:run_system",
                                                         "kwargs": {"command": "true"}}))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("nets", None)
    try:
        code = main(["explain", str(SAMPLE), "--model", str(tmp_path / "spec.yaml"), "--method", "grad_cam",
                     "--out", str(tmp_path / "out")])
    finally:
        sys.modules.pop("nets", None)
    assert code == 0, capsys.readouterr().err
