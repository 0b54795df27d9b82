"""Typed settings: dataclass fields that carry their own choices and ranges.

The one validation machinery for run configs, sampling settings and sweep specs. A field declares
what it accepts next to its default:

    kind: str = choice("smiles", "text")            # the first option is the default
    val_fraction: float = number(0.05, ge=0, lt=1)

`build(cls, data)` turns a TOML-like dict into the dataclass (unknown keys, wrong types, values
outside a choice or range are ConfigErrors that name the key, the value and what was expected);
`check(obj)` re-checks an instance built in Python.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import field
from typing import Any, TypeVar

from seqcvae.errors import ConfigError

T = TypeVar("T")

_CHOICES = "choices"
_RANGE = "range"  # (lowest, lowest inclusive, highest or None, highest inclusive)


def choice(*options: str, default: str | None = None) -> Any:
    """A string field that must be one of `options` (default: the first)."""
    return field(default=options[0] if default is None else default, metadata={_CHOICES: options})


def number(
    default: T,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> T:
    """A numeric field with bounds (ge/gt: lower, le/lt: upper; at most one of each); also finite."""
    if ge is not None and gt is not None or le is not None and lt is not None:
        raise TypeError("give at most one lower (ge/gt) and one upper (le/lt) bound")
    lo, lo_incl = (ge, True) if ge is not None else (gt, False)
    hi, hi_incl = (le, True) if le is not None else (lt, False)
    bounds = (lo, lo_incl, hi, hi_incl)
    return typing.cast(T, field(default=default, metadata={_RANGE: bounds}))


def like(cls: type, name: str, default: Any) -> Any:
    """The field `name` of dataclass `cls` (its choices and range) with another default."""
    (f,) = [f for f in dataclasses.fields(cls) if f.name == name]
    return field(default=default, metadata=f.metadata)


def check_value(where: str, f: dataclasses.Field, value: Any) -> None:
    """Raise a ConfigError when `value` is outside field `f`'s choices or range."""
    options = f.metadata.get(_CHOICES)
    if options is not None and value not in options:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(options)}")
    bounds = f.metadata.get(_RANGE)
    if bounds is None:
        return
    lo, lo_incl, hi, hi_incl = bounds
    ok = math.isfinite(value)
    ok = ok and (lo is None or (value >= lo if lo_incl else value > lo))
    ok = ok and (hi is None or (value <= hi if hi_incl else value < hi))
    if not ok:
        parts = [] if lo is None else [f"{'>=' if lo_incl else '>'} {lo:g}"]
        parts += [] if hi is None else [f"{'<=' if hi_incl else '<'} {hi:g}"]
        expected = f"a number {' and '.join(parts)}" if parts else "a finite number"
        raise ConfigError(f"{where} = {value!r} is out of range; expected {expected}")


def check(obj: Any, prefix: str = "") -> None:
    """Check every field of dataclass instance `obj` (and nested dataclasses) against its metadata."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        where = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            check(value, where + ".")
        else:
            check_value(where, f, value)


def check_type(value: Any, tp: Any, where: str) -> Any:
    """`value` as type `tp` (an int is accepted as a float); a ConfigError naming `where` if not."""
    origin = typing.get_origin(tp)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [check_type(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if origin in (types.UnionType, typing.Union):
        raise ConfigError(f"{where}: union types are not supported in settings")
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if isinstance(value, bool) != (tp is bool) or not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {tp}")


def build(cls: type[T], data: Any, prefix: str = "", *, what: str = "config key") -> T:
    """Dataclass `cls` from a dict: missing keys take their defaults; every given value is
    type-checked and checked against its field's choices and range; nested dataclasses recurse."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = prefix.rstrip(".") or "top level"
        raise ConfigError(
            f"unknown {what} {', '.join(repr(prefix + k) for k in unknown)} in {where}; "
            f"valid keys: {', '.join(sorted(fields))}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        tp = hints[name]
        where = f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            kwargs[name] = build(tp, value, where + ".", what=what)  # type: ignore[arg-type]
        else:
            kwargs[name] = check_type(value, tp, where)
            check_value(where, fields[name], kwargs[name])
    return cls(**kwargs)
