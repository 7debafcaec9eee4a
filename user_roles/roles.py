"""The strict loader behind user_roles/*.yaml: every mistake names the file and the key."""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from xai_core.errors import XaiError
from xai_core.methods.registry import COSTS, list_methods

ROLES_DIR = Path(__file__).resolve().parent
PAGES = ("explain", "compare", "live", "model", "evaluate")
RENDERINGS = {
    "summary": "one plain-language sentence: what, how sure, when and where",
    "prediction": "the predicted class, its confidence and the top classes",
    "tube": "the staggered-frame saliency tube",
    "curve": "the temporal relevance curve with key frames",
    "frames": "a frame scrubber: frame and overlay side by side",
    "overlay_video": "the per-frame overlay as a video",
    "motion": "motion or appearance: reliance bars and counterfactual clips, the relevance split into "
              "appearance and motion parts (one picture for both), the optical flow",
    "influence": "the training clips behind the decision: TracIn proponents and opponents as looping clips",
    "ground_truth": "for synthetic clips: the evidence mask and how well the relevance hits it",
    "export": "downloads: tube PNG, overlay video, relevance JSON + NPZ, HTML report",
}
SUMMARY_FIELDS = {"label", "confidence", "frames", "where", "method", "model", "share", "motion",
                  "motion_short"}
OVERLAYS = ("light", "full")


class RoleError(XaiError):
    """A role file is missing, not YAML, or breaks the schema."""


@dataclass(frozen=True)
class Role:
    """What one kind of user sees: pages, methods, cost ceiling, renderings, internals, wording."""

    name: str
    title: str
    description: str
    pages: tuple[str, ...]
    methods: tuple[str, ...]
    default_method: str
    max_cost: str
    renderings: tuple[str, ...]
    internals: bool = False
    overlay: str = "full"
    summary: str = "{label} ({confidence}): evidence peaks in {frames}, {where}"
    path: str = field(default="", compare=False)

    def allows(self, method) -> bool:
        """Is this registered method (a MethodInfo) offered to the role?"""
        return method.name in self.methods and COSTS.index(method.cost) <= COSTS.index(self.max_cost)


_SCHEMA = {  # key: (type, required)
    "title": (str, True), "description": (str, True), "pages": (list, True), "methods": ((list, str), True),
    "default_method": (str, True), "max_cost": (str, True), "renderings": (list, True),
    "internals": (bool, False), "overlay": (str, False), "summary": (str, False),
}


def load_role(path: str | Path) -> Role:
    """Read and validate one role file; RoleError names the file and the key at fault."""
    path = Path(path)
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise RoleError(f"{where}: cannot read role file ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise RoleError(f"{where}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RoleError(f"{where}: a role file must be a mapping of keys, got {type(data).__name__}")
    _check_keys(data, where)
    methods = _methods(data, where)
    return Role(
        name=path.stem, title=data["title"], description=data["description"],
        pages=_subset(data["pages"], PAGES, "pages", where),
        methods=methods, default_method=_default_method(data, methods, where),
        max_cost=_choice(data["max_cost"], COSTS, "max_cost", where),
        renderings=_subset(data["renderings"], tuple(RENDERINGS), "renderings", where),
        internals=data.get("internals", False),
        overlay=_choice(data.get("overlay", "full"), OVERLAYS, "overlay", where),
        summary=_summary(data.get("summary", Role.summary), where), path=where)


def load_roles(folder: str | Path = ROLES_DIR) -> dict[str, Role]:
    """Every *.yaml role in `folder`, by name (the file's stem), sorted."""
    paths = sorted(Path(folder).glob("*.yaml"))
    if not paths:
        raise RoleError(f"{folder}: no role files (*.yaml)")
    return {p.stem: load_role(p) for p in paths}


def _check_keys(data: dict, where: str) -> None:
    unknown = sorted(set(data) - set(_SCHEMA))
    if unknown:
        raise RoleError(f"{where}: unknown key '{unknown[0]}'; known keys: {', '.join(_SCHEMA)}")
    for key, (kind, required) in _SCHEMA.items():
        if key not in data:
            if required:
                raise RoleError(f"{where}: missing key '{key}'")
            continue
        if not isinstance(data[key], kind) or (kind is not bool and isinstance(data[key], bool)):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise RoleError(f"{where}: key '{key}' must be a {names}, got {type(data[key]).__name__}")


def _subset(values: list, known: tuple, key: str, where: str) -> tuple[str, ...]:
    if not values:
        raise RoleError(f"{where}: key '{key}' must list at least one of: {', '.join(known)}")
    for v in values:
        if v not in known:
            raise RoleError(f"{where}: key '{key}': unknown {key[:-1] if key.endswith('s') else key} "
                            f"{v!r}; known: {', '.join(known)}")
    if len(set(values)) != len(values):
        raise RoleError(f"{where}: key '{key}' lists an entry twice")
    return tuple(values)


def _choice(value, known: tuple, key: str, where: str) -> str:
    if value not in known:
        raise RoleError(f"{where}: key '{key}' must be one of {', '.join(known)}, got {value!r}")
    return value


def _methods(data: dict, where: str) -> tuple[str, ...]:
    registered = tuple(m.name for m in list_methods())
    if data["methods"] == "all":
        return registered
    if isinstance(data["methods"], str):
        raise RoleError(f"{where}: key 'methods' must be a list of method names or 'all'")
    return _subset(data["methods"], registered, "methods", where)


def _default_method(data: dict, methods: tuple, where: str) -> str:
    name = data["default_method"]
    if name not in methods:
        raise RoleError(f"{where}: key 'default_method': {name!r} is not among the role's methods")
    cost = {m.name: m.cost for m in list_methods()}[name]
    if COSTS.index(cost) > COSTS.index(data["max_cost"] if data["max_cost"] in COSTS else COSTS[-1]):
        raise RoleError(f"{where}: key 'default_method': {name!r} costs {cost}, above max_cost {data['max_cost']}")
    return name


def _summary(template: str, where: str) -> str:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise RoleError(f"{where}: key 'summary': bad template ({e})") from None
    unknown = sorted(f for f in fields if f not in SUMMARY_FIELDS)
    if unknown:
        raise RoleError(f"{where}: key 'summary': unknown placeholder {{{unknown[0]}}}; "
                        f"known: {', '.join(sorted(SUMMARY_FIELDS))}")
    return template
