"""Method options: each one's type and bounds, read from the method's signature; one validator.

An option's type is its annotation (or, without one, its default's type): `int`, `float`,
`str`, `bool`, `None`, `typing.Literal["a", "b"]` for a fixed set of words,
`tuple[int, int, int]` for a value per axis, and unions of these (`float | Literal["black"]`).
Numeric bounds are declared at registration, `@register_method(..., bounds={"steps": (1, 1024)})`,
and hold for each element of a tuple. Ints are accepted for floats; bools are refused for
numbers, strings for numbers, NaN and infinities everywhere.

The work an option set asks for is capped, so that no option can ask for days or petabytes:
- `MAX_PASSES` forward passes (each with its backward pass where the method takes gradients)
  per clip, counted by the method's declared `work` function from the options and the clip's
  shape (occlusion: one pass per window, so window and stride decide);
- `MAX_BATCH_BYTES` of input clips held by one batch: batch_size x C x T x H x W x 4 bytes, the
  perturbed copies alone (the activations come on top of it).

`validate_options(info, options, video_shape)` is what run_method, the CLI and the dashboard call.
"""
from __future__ import annotations

import inspect
import math
import numbers
import types
import typing
from dataclasses import dataclass
from typing import Callable, Literal, Union

from ..errors import MethodError

# 2**17 passes: occlusion of single voxels on the bundled 16 x 64 x 64 grid (65,536 windows) fits,
# a few minutes on a CPU for the bundled models (about 2 ms a clip); anything finer or larger is
# refused rather than left running for hours.
MAX_PASSES = 2 ** 17
# 1 GiB of input clips per batch: 1,365 clips of the bundled 3 x 16 x 64 x 64, 27 of 3 x 64 x 224 x 224.
MAX_BATCH_BYTES = 2 ** 30
BYTES_PER_VALUE = 4                                       # the clips are float32

_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool", type(None): "none"}


@dataclass(frozen=True)
class OptionSpec:
    """One option of a method: its default, the types it takes and its bounds."""

    name: str
    default: object
    types: tuple[str, ...]            # of "int", "float", "str", "bool", "none", "tuple"
    choices: tuple[str, ...] = ()     # the words a "str" option takes; () = any string
    length: int = 0                   # a "tuple" option's length
    element: str = ""                 # a "tuple" option's element type: "int" or "float"
    low: float | None = None          # numeric bounds, inclusive; per element for a tuple
    high: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready: what a UI needs for a widget (type, default, min, max, choices, length)."""
        d = {"types": list(self.types),
             "default": list(self.default) if isinstance(self.default, tuple) else self.default,
             "min": self.low, "max": self.high}
        if self.choices:
            d["choices"] = list(self.choices)
        if "tuple" in self.types:
            d["length"], d["element"] = self.length, self.element
        return d

    def allowed(self) -> str:
        """What this option takes, in words: 'an integer from 1 to 1024 or ...'."""
        words = []
        for kind in self.types:
            if kind in ("int", "float"):
                words.append(("an integer" if kind == "int" else "a finite number") + self._range())
            elif kind == "str":
                words.append("one of " + ", ".join(map(repr, self.choices)) if self.choices else "a string")
            elif kind == "bool":
                words.append("true or false")
            elif kind == "none":
                words.append("null (None)")
            elif kind == "tuple":
                noun = "integers" if self.element == "int" else "finite numbers"
                words.append(f"{self.length} {noun}{self._range()}")
        return " or ".join(words)

    def _range(self) -> str:
        if self.low is not None and self.high is not None:
            return f" from {_num(self.low)} to {_num(self.high)}"
        if self.low is not None:
            return f" >= {_num(self.low)}"
        return f" <= {_num(self.high)}" if self.high is not None else ""

    def check(self, value, method: str):
        """`value` in its canonical form (int, float, str, tuple, ...) or a MethodError."""
        if value is None and "none" in self.types:
            return None
        if isinstance(value, bool):
            if "bool" in self.types:
                return value
        elif isinstance(value, numbers.Real) and ({"int", "float"} & set(self.types)):
            number = self._number(value, "int" if "int" in self.types else "float", method)
            if number is not None:
                return number
        elif isinstance(value, str) and "str" in self.types:
            if not self.choices or value in self.choices:
                return value
        elif isinstance(value, (tuple, list)) and "tuple" in self.types and len(value) == self.length:
            items = [self._number(v, self.element, method) if isinstance(v, numbers.Real)
                     and not isinstance(v, bool) else None for v in value]
            if all(v is not None for v in items):
                return tuple(items)
        raise self.error(value, method)

    def _number(self, value, kind: str, method: str):
        """An int (kind "int") or float in range; None if `value` is not of that kind."""
        if kind == "int":
            if not isinstance(value, numbers.Integral):
                return None
            value = int(value)
        else:
            try:
                value = float(value)
            except OverflowError:                              # an int beyond float's range
                raise self.error(value, method) from None
            if not math.isfinite(value):
                raise self.error(value, method)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise self.error(value, method)
        return value

    def error(self, value, method: str) -> MethodError:
        return MethodError(f"method {method!r}, option {self.name!r}: got {_show(value)}; "
                           f"allowed: {self.allowed()}")


def option_specs(fn: Callable, bounds: dict | None = None) -> dict[str, OptionSpec]:
    """The OptionSpec of each keyword-only option of a method, from its signature and `bounds`.

    Raises TypeError for a method its author must fix: an annotation this module cannot check,
    a bound on an unknown or non-numeric option, or a default outside its own type and bounds.
    """
    bounds = dict(bounds or {})
    hints = typing.get_type_hints(fn)
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind == p.KEYWORD_ONLY and p.default is not p.empty]
    specs = {}
    for p in params:
        annotation = hints.get(p.name)                       # (an annotation `None` reads NoneType)
        if annotation is None or annotation is tuple:        # none, or a bare tuple: the default says
            annotation = _infer(p.default)
        kinds, choices, length, element = _parse(annotation, p.name)
        low, high = bounds.pop(p.name, (None, None))
        if (low is not None or high is not None) and not ({"int", "float"} & set(kinds) or element):
            raise TypeError(f"{fn.__name__}: bounds given for non-numeric option {p.name!r}")
        spec = OptionSpec(p.name, p.default, kinds, choices, length, element, low, high)
        try:
            spec.check(p.default, fn.__name__)
        except MethodError as e:
            raise TypeError(f"{fn.__name__}: the default breaks its own declaration ({e})") from None
        specs[p.name] = spec
    if bounds:
        raise TypeError(f"{fn.__name__}: bounds for unknown option(s) {sorted(bounds)}")
    return specs


def _infer(default):
    """The type of an unannotated option, from its default: 3 -> int, (4, 16, 16) -> tuple[int, ...]."""
    if isinstance(default, tuple):
        element = float if any(isinstance(v, float) for v in default) else int
        return tuple.__class_getitem__((element,) * len(default))
    return type(default)


def _parse(annotation, name: str) -> tuple[tuple[str, ...], tuple[str, ...], int, str]:
    """(types, choices, tuple length, tuple element type) of one annotation."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        parts = [_parse(a, name) for a in args]
        kinds = tuple(dict.fromkeys(k for p in parts for k in p[0]))
        if "int" in kinds and "float" in kinds:                 # int | float: a float takes ints
            kinds = tuple(k for k in kinds if k != "int")
        choices = tuple(c for p in parts for c in p[1])
        if "str" in kinds and any("str" in p[0] and not p[1] for p in parts):
            choices = ()                                     # a plain str takes any word
        length = max(p[2] for p in parts)
        return kinds, choices, length, next((p[3] for p in parts if p[3]), "")
    if origin is Literal:
        if not all(isinstance(a, str) for a in args):
            raise TypeError(f"option {name!r}: only Literal[str, ...] is supported, got {annotation}")
        return ("str",), tuple(args), 0, ""
    if origin is tuple:
        if not args or Ellipsis in args or len(set(args)) != 1 or args[0] not in (int, float):
            raise TypeError(f"option {name!r}: a tuple option is tuple[int, int, int] or "
                            f"tuple[float, ...] of a fixed length, got {annotation}")
        return ("tuple",), (), len(args), _TYPE_NAMES[args[0]]
    if annotation is None:
        annotation = type(None)
    if annotation in _TYPE_NAMES:
        return (_TYPE_NAMES[annotation],), (), 0, ""
    raise TypeError(f"option {name!r}: cannot validate an option annotated {annotation!r}")


def validate_options(info, options: dict, video_shape: tuple | None = None) -> dict:
    """The options in canonical form (lists -> tuples, ints -> floats where a float is meant).

    Checks that every option is known, of its type and in its bounds, and, given the
    video's shape (N, C, T, H, W), that the work stays within MAX_PASSES forward passes per clip
    and MAX_BATCH_BYTES per batch. Raises MethodError naming the method, the option, what was
    given and what is allowed. Options not given keep their defaults (not returned).
    `info` is a MethodInfo or a method's name.
    """
    if isinstance(info, str):
        from .registry import get_method
        info = get_method(info)
    unknown = [k for k in options if k not in info.option_specs]
    if unknown:
        raise MethodError(f"method {info.name!r}: unknown option(s) {sorted(map(str, unknown))}; "
                          f"options: {', '.join(info.option_specs) or 'none'}")
    checked = {k: info.option_specs[k].check(v, info.name) for k, v in options.items()}
    if video_shape is not None:
        merged = {**info.options, **checked}
        check_work(info, merged, tuple(video_shape))
        if info.check is not None:
            wanted = inspect.signature(info.check).parameters
            info.check(tuple(video_shape), **{k: merged[k] for k in wanted if k in merged})
    return checked


def passes_per_clip(info, options: dict, video_shape: tuple) -> int:
    """Forward passes per clip that method `info` makes with `options` (defaults filled in)."""
    if info.work is None:
        return 1
    wanted = inspect.signature(info.work).parameters
    return int(info.work(video_shape, **{k: options[k] for k in wanted if k in options}))


def expected_passes(info, options: dict, video_shape: tuple) -> tuple[int, int]:
    """(passes when no refinement is needed, the most passes) per clip, options' defaults filled in.

    An adaptive method (integrated gradients doubles `steps` up to `max_steps` while its
    integration error is above tolerance) usually stops after its first round.
    """
    options = {**info.options, **options}
    most = passes_per_clip(info, options, video_shape)
    if "steps" in options and "max_steps" in options:
        return passes_per_clip(info, {**options, "max_steps": options["steps"]}, video_shape), most
    return most, most


def check_work(info, options: dict, video_shape: tuple) -> None:
    """MethodError if the options ask for more than MAX_PASSES per clip or MAX_BATCH_BYTES a batch."""
    if len(video_shape) != 5:
        raise MethodError(f"method {info.name!r}: video must be (N, C, T, H, W), got shape {video_shape}")
    N, C, T, H, W = video_shape                                   # batch, channels, time, height, width
    passes = passes_per_clip(info, options, video_shape)
    if passes > MAX_PASSES:
        names = [k for k in inspect.signature(info.work).parameters if k in options]
        given = ", ".join(f"{k}={_show(options[k])}" for k in names)
        raise MethodError(f"method {info.name!r}: {given} ask for {passes:,} forward passes per "
                          f"clip of {T}x{H}x{W}; allowed: at most {MAX_PASSES:,} per clip")
    if "batch_size" in options:
        clip_bytes = C * T * H * W * BYTES_PER_VALUE
        batch = min(options["batch_size"], max(1, N * passes))    # never more clips than there are
        if batch * clip_bytes > MAX_BATCH_BYTES:
            raise MethodError(f"method {info.name!r}, option 'batch_size': got {options['batch_size']}, "
                              f"{batch * clip_bytes / 2 ** 20:,.0f} MiB of {C}x{T}x{H}x{W} clips per "
                              f"batch; allowed: at most {max(1, MAX_BATCH_BYTES // clip_bytes)} "
                              f"({MAX_BATCH_BYTES // 2 ** 20:,} MiB)")


def _show(value) -> str:
    """A given value for an error message: its repr, cut to 60 characters, and its type."""
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return text if isinstance(value, (int, float, str, type(None))) else f"{text} ({type(value).__name__})"


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)
