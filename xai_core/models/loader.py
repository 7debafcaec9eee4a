"""load_model(): a bundled model by name, or a user's model from a spec (YAML file or dict).

A user spec names a factory, a weights file, the class names and the input spec:

    name: my_r3d
    factory: torchvision.models.video:r3d_18     # module:function returning an nn.Module
    kwargs: {num_classes: 5}                     # passed to the factory (optional)
    weights: r3d_18_finetuned.safetensors        # or a state dict (.pt/.pth), relative to the YAML
    class_names: [a, b, c, d, e]                 # or class_names_file: classes.txt (one a line)
    input: {frames: 16, height: 112, width: 112, mean: [0.432, 0.395, 0.376], std: [0.228, 0.221, 0.217]}
    cam_layer: layer4                            # optional: the layer CAM methods use
    family: 3d                                   # optional
    state_dict_key: state_dict                   # optional: where a checkpoint keeps its weights

Nothing is downloaded and nothing is unpickled: safetensors, or torch.load(weights_only=True).
"""
from __future__ import annotations

import importlib
from pathlib import Path

import torch
import yaml
from torch import nn

from ..errors import ModelSpecError
from ..spec import InputSpec
from .base import ModelInfo, VideoModel
from .registry import bundled, bundled_names, read_metadata

SPEC_KEYS = {"name", "factory", "kwargs", "weights", "class_names", "class_names_file", "input",
             "cam_layer", "family", "description", "state_dict_key", "strict"}

# CAM layers of the torchvision video architectures (transformers have no (N, C, T, H, W) layer).
KNOWN_CAM_LAYERS = {"r3d_18": "layer4", "mc3_18": "layer4", "r2plus1d_18": "layer4", "s3d": "features"}


def load_model(model: str | dict | Path, device: str | torch.device = "cpu") -> VideoModel:
    """A bundled model by name, a spec file (.yaml/.yml), or a spec dict -> VideoModel in eval mode."""
    if isinstance(model, dict):
        return load_user_model(model, device=device)
    path = Path(model)
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_user_model(read_spec_file(path), base=path.parent, where=str(path), device=device)
    return load_bundled(str(model), device)


def load_bundled(name: str, device="cpu") -> VideoModel:
    entry = bundled(name)
    if not entry.weights.exists():
        raise ModelSpecError(f"model {name!r} has no trained weights at {entry.weights}; "
                             f"train them with: python -m xai_core train --model {name}")
    meta = read_metadata(entry.weights)
    net = entry.factory(len(meta["class_names"]))
    _load_state(net, _read_weights(entry.weights, None, str(entry.weights)), True, str(entry.weights))
    info = ModelInfo(name, list(meta["class_names"]), InputSpec.from_dict(meta["spec"]),
                     meta.get("cam_layer"), entry.family, entry.description, "bundled",
                     str(entry.weights), {"training": meta.get("training"), "test": meta.get("test")})
    return VideoModel(net, info).eval().to(device)


def read_spec_file(path: Path) -> dict:
    if not path.is_file():
        raise ModelSpecError(f"{path}: model spec file not found")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ModelSpecError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(spec, dict):
        raise ModelSpecError(f"{path}: a model spec must be a mapping of keys, got {type(spec).__name__}")
    return spec


def load_user_model(spec: dict, base: Path | None = None, where: str = "model spec",
                    device="cpu") -> VideoModel:
    """Build a user's model from its spec; every mistake names the spec and the key at fault."""
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise ModelSpecError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(SPEC_KEYS)}")
    for key in ("factory", "weights", "input"):
        if key not in spec:
            raise ModelSpecError(f"{where}: missing required key '{key}'")
    base = base or Path.cwd()
    class_names = _class_names(spec, base, where)
    input_spec = InputSpec.from_dict(spec["input"], f"{where}: 'input'")
    net = _build(spec["factory"], spec.get("kwargs") or {}, where)
    _check_outputs(net, len(class_names), where)
    weights = (base / spec["weights"]) if not Path(spec["weights"]).is_absolute() else Path(spec["weights"])
    state = _read_weights(weights, spec.get("state_dict_key"), f"{where}: 'weights'")
    _load_state(net, state, bool(spec.get("strict", True)), str(weights))
    factory_name = str(spec["factory"]).rsplit(":", 1)[-1]
    cam_layer = spec.get("cam_layer", KNOWN_CAM_LAYERS.get(factory_name) or _guess_cam_layer(net))
    if cam_layer:
        try:
            net.get_submodule(cam_layer)
        except AttributeError:
            raise ModelSpecError(f"{where}: 'cam_layer' {cam_layer!r} is not a module of the model") from None
    info = ModelInfo(str(spec.get("name") or factory_name), class_names, input_spec, cam_layer,
                     str(spec.get("family", "unknown")), str(spec.get("description", "")), "user",
                     str(weights))
    return VideoModel(net, info).eval().to(device)


def _class_names(spec: dict, base: Path, where: str) -> list[str]:
    if "class_names" in spec:
        names = spec["class_names"]
        if not isinstance(names, list) or not names or not all(isinstance(n, (str, int)) for n in names):
            raise ModelSpecError(f"{where}: 'class_names' must be a non-empty list of names")
        return [str(n) for n in names]
    if "class_names_file" in spec:
        path = base / spec["class_names_file"]
        if not path.is_file():
            raise ModelSpecError(f"{where}: 'class_names_file' {path} not found")
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not names:
            raise ModelSpecError(f"{where}: 'class_names_file' {path} is empty")
        return names
    raise ModelSpecError(f"{where}: missing 'class_names' (or 'class_names_file')")


def _build(factory: str, kwargs: dict, where: str) -> nn.Module:
    if not isinstance(factory, str) or ":" not in factory:
        raise ModelSpecError(f"{where}: 'factory' must be 'module:function', got {factory!r}")
    module_name, fn_name = factory.split(":", 1)
    try:
        fn = getattr(importlib.import_module(module_name), fn_name)
    except ImportError as e:
        raise ModelSpecError(f"{where}: 'factory' cannot import module {module_name!r} ({e})") from None
    except AttributeError:
        raise ModelSpecError(f"{where}: 'factory' module {module_name!r} has no {fn_name!r}") from None
    if not isinstance(kwargs, dict):
        raise ModelSpecError(f"{where}: 'kwargs' must be a mapping")
    kwargs = dict(kwargs)
    if module_name.startswith("torchvision.models"):
        kwargs.setdefault("weights", None)       # never let torchvision download anything
    try:
        net = fn(**kwargs)
    except Exception as e:  # a user's factory can fail in any way; report it, don't crash
        raise ModelSpecError(f"{where}: 'factory' {factory}(**{kwargs}) failed: {e}") from None
    if not isinstance(net, nn.Module):
        raise ModelSpecError(f"{where}: 'factory' {factory} returned {type(net).__name__}, not an nn.Module")
    return net


def _check_outputs(net: nn.Module, num_classes: int, where: str) -> None:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if linears and linears[-1].out_features != num_classes:
        raise ModelSpecError(f"{where}: the model's last layer has {linears[-1].out_features} outputs but "
                             f"{num_classes} class names are given")


def _read_weights(path: Path, key: str | None, where: str) -> dict:
    if not path.is_file():
        raise ModelSpecError(f"{where}: weights file {path} not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise ModelSpecError(f"{where}: {path} is not a readable safetensors file ({e})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, zip errors, refused globals: all mean "not a state dict"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelSpecError(f"{where}: {path} is not a state dict that loads safely "
                             f"(torch.load weights_only=True: {first[:200]})") from None
    if key:
        if not isinstance(state, dict) or key not in state:
            raise ModelSpecError(f"{where}: {path} has no entry {key!r} (state_dict_key)")
        state = state[key]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ModelSpecError(f"{where}: {path} does not hold a flat state dict of tensors "
                             "(set state_dict_key if the weights sit under a key)")
    return state


def _load_state(net: nn.Module, state: dict, strict: bool, where: str) -> None:
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    if shapes or (strict and (missing or unexpected)):
        parts = []
        if missing:
            parts.append(f"missing keys: {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_few(unexpected)}")
        if shapes:
            parts.append(f"shape mismatch: {_few(shapes)}")
        raise ModelSpecError(f"{where}: weights do not fit the model ({'; '.join(parts)})")
    net.load_state_dict(state, strict=strict)


def _few(items: list, n: int = 6) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _guess_cam_layer(net: nn.Module) -> str | None:
    """The last Conv3d's name: a reasonable CAM layer when the spec names none."""
    names = [n for n, m in net.named_modules() if isinstance(m, nn.Conv3d)]
    return names[-1] if names else None


def read_models_file(path: str | Path) -> dict[str, dict]:
    """A models YAML (`models: [spec, ...]`) -> {name: spec}; weights paths made absolute.

    The specs themselves are checked when a model is loaded (load_user_model); this checks the
    file: YAML, a list of mappings, each with a unique `name` that is not a bundled model's.
    """
    path = Path(path)
    where = str(path)
    data = read_spec_file(path)
    if set(data) != {"models"} or not isinstance(data["models"], list):
        raise ModelSpecError(f"{where}: expected one key 'models' holding a list of model specs")
    specs: dict[str, dict] = {}
    for i, spec in enumerate(data["models"]):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            raise ModelSpecError(f"{where}: models[{i}] needs a 'name' (and the keys of a model spec)")
        name = spec["name"]
        if name in specs or name in bundled_names():
            raise ModelSpecError(f"{where}: models[{i}]: the name {name!r} is already taken")
        spec = dict(spec)
        if isinstance(spec.get("weights"), str) and not Path(spec["weights"]).is_absolute():
            spec["weights"] = str(path.parent / spec["weights"])
        if isinstance(spec.get("class_names_file"), str) and not Path(spec["class_names_file"]).is_absolute():
            spec["class_names_file"] = str(path.parent / spec["class_names_file"])
        specs[name] = spec
    return specs


def list_models() -> list[dict]:
    """The bundled models with their metadata (and whether trained weights are present)."""
    out = []
    for name in bundled_names():
        entry = bundled(name)
        row = {"name": name, "family": entry.family, "description": entry.description,
               "weights": str(entry.weights), "trained": entry.weights.exists()}
        if entry.weights.exists():
            meta = read_metadata(entry.weights)
            row.update(classes=meta["class_names"], input=meta["spec"],
                       test_accuracy=meta.get("test", {}).get("accuracy"))
        out.append(row)
    return out
