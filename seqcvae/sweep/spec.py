"""Sweep specifications: which targets to visit, how many samples each, how to judge a hit.

A spec comes from TOML or from CLI arguments (the arguments override the file):

    n = 200                      # samples per target
    seed = 0
    [targets]                    # one or more conditions; several = their product (a grid)
    LogP = {start = -1, stop = 5, steps = 13}
    MolWt = [250, 350, 450]
    [fixed]                      # conditions held at one value for every target
    QED = 0.8
    [tolerance]                  # hit = |measured - target| <= tolerance (default: 5% of the
    LogP = 0.5                   # property's training range)
    [sample]                     # sampling settings: strategy, temperature, top_k, top_p, ...
    temperature = 0.8

On the command line a target is `NAME=START:STOP:STEPS`, `NAME=V1,V2,...` or `NAME=VALUE`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqcvae import _toml as tomllib
from seqcvae.config import SamplingSettings
from seqcvae.data.conditions import parse_condition_value
from seqcvae.data.goals import check_tolerances
from seqcvae.errors import ConfigError
from seqcvae.fields import build, check, number

TABLES = ("targets", "fixed", "tolerance", "sample")


@dataclass
class SweepSpec:
    targets: dict[str, list[Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    n: int = number(100, ge=1)  # samples per target
    seed: int = 0
    tolerance: dict[str, float] = field(default_factory=dict)
    sample: dict[str, Any] = field(default_factory=dict)  # SamplingSettings keys
    images: int = number(12, ge=0)  # example molecules drawn per target (0 = no images)
    sdf: bool = False  # also write valid molecules with their properties as SDF
    smi: bool = False  # also write valid molecules as SMILES lines (canonical, index, target_index)
    parquet: bool = False  # also write samples.csv as typed Parquet
    batch_size: int = number(1000, ge=1)

    def grid(self) -> list[dict[str, Any]]:
        """Every target as a request (fixed conditions included), in product order."""
        names = list(self.targets)
        return [
            {**self.fixed, **dict(zip(names, values))}
            for values in itertools.product(*(self.targets[n] for n in names))
        ]

    def validate(self) -> SweepSpec:
        check(self)
        if not self.targets:
            raise ConfigError("a sweep needs at least one target, e.g. --target LogP=-1:5:13")
        for name, values in self.targets.items():
            if not values:
                raise ConfigError(f"target {name}: no values; give VALUE, V1,V2,... or START:STOP:STEPS")
        both = sorted(set(self.targets) & set(self.fixed))
        if both:
            raise ConfigError(f"{both[0]!r} is both swept and fixed; give it in one place")
        check_tolerances(self.tolerance)
        build(SamplingSettings, self.sample, "sample.", what="sampling setting")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        data = {k: v for k, v in data.items() if k != "model"}  # spec.json also records the model
        for key in TABLES:
            if key in data and not isinstance(data[key], dict):
                raise ConfigError(f"sweep [{key}] must be a table, got {data[key]!r}")
        if "targets" in data:
            data["targets"] = {k: parse_values(k, v) for k, v in data["targets"].items()}
        return build(cls, {"targets": {}, **data}, what="sweep key").validate()


def parse_values(name: str, value: Any) -> list[Any]:
    """A list, {start, stop, steps}, "start:stop:steps", "a,b,c" or one value -> list of values."""
    if isinstance(value, dict):
        missing = sorted({"start", "stop", "steps"} - set(value))
        if missing or set(value) - {"start", "stop", "steps"}:
            raise ConfigError(f"target {name}: a range needs exactly start, stop, steps; got {value!r}")
        return _linspace(name, value["start"], value["stop"], value["steps"])
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"target {name}: empty list of values")
        return [_target_value(v) for v in value]
    if isinstance(value, str):
        text = value.strip()
        if text.count(":") == 2:
            start, stop, steps = text.split(":")
            try:
                return _linspace(name, float(start), float(stop), int(steps))
            except ValueError:
                raise ConfigError(
                    f"target {name}={value!r}: expected START:STOP:STEPS with numbers, e.g. -1:5:13"
                ) from None
        if "," in text:
            return [_target_value(v.strip()) for v in text.split(",") if v.strip()]
        return [_target_value(text)]
    return [_target_value(value)]


def _linspace(name: str, start: Any, stop: Any, steps: Any) -> list[float]:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigError(f"target {name}: steps={steps!r}, expected a whole number >= 1")
    for v in (start, stop):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            raise ConfigError(f"target {name}: range bound {v!r} is not a finite number")
    return [round(float(x), 10) for x in np.linspace(float(start), float(stop), steps)]


def _target_value(v: Any) -> float | str:
    """A number (finite) or a tag; text is read with the CLI's parse_condition_value."""
    if isinstance(v, bool):
        raise ConfigError(f"target value {v!r}: expected a number or a tag")
    value = float(v) if isinstance(v, (int, float)) else parse_condition_value(str(v))
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"target value {v!r} is not a finite number")
    return value


def load_spec(
    path: str | Path | None,
    overrides: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
) -> SweepSpec:
    """Read a TOML spec (or start empty) and apply overrides (already-parsed CLI values).

    `defaults` fill keys that neither the file nor the overrides give (the CLI passes the
    checkpoint's sample seed and batch size); then SweepSpec's own defaults apply.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"sweep spec {str(p)!r} does not exist")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"sweep spec {str(p)!r} is not valid TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and key in data and not isinstance(data[key], dict):
            raise ConfigError(f"sweep [{key}] must be a table, got {data[key]!r}")
        if isinstance(value, dict):
            data[key] = {**data.get(key, {}), **value}
        elif value is not None:
            data[key] = value
    return SweepSpec.from_dict({**(defaults or {}), **data})
