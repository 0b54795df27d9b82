"""Conditions: named continuous properties (standardised) and categorical tags, one mechanism.

Every condition can also be *unspecified*: continuous ones carry a presence flag, categorical ones
reserve index 0. Training hides conditions at random (condition dropout) so that a user may give
only the properties they care about at generation time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqcvae.errors import ConditionError

UNSPECIFIED_TAG = "<any>"


DEFAULT_TOLERANCE_FRACTION = 0.05  # of a property's training range: sweeps' hits, edit goals


@dataclass
class ContinuousCondition:
    name: str
    mean: float
    std: float
    minimum: float
    maximum: float
    quantiles: dict[str, float] = field(default_factory=dict)  # "p01", "p50", "p99"
    # Where the training values came from: "rdkit" (measured by seqcvae) or "file" (a column of
    # the data file); None in checkpoints written before seqcvae recorded it.
    source: str | None = None

    def default_tolerance(self) -> float:
        """How close a measured value must land to count as a hit when no tolerance is given:
        DEFAULT_TOLERANCE_FRACTION of the training range."""
        return DEFAULT_TOLERANCE_FRACTION * (self.maximum - self.minimum)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


@dataclass
class CategoricalCondition:
    name: str
    values: list[str]  # index 0 is UNSPECIFIED_TAG

    def index(self, value: Any) -> int:
        """Index of a known tag. A number, or a string that reads as one, also matches the tag
        that spells the same number: 5, 5.0 and "5" match "5" (or "5.0"); 0.5 and "0.50" match "0.5"."""
        text = str(value)
        if text in self.values[1:]:
            return self.values.index(text, 1)
        x = _number(value)
        if x is not None:
            spellings = {f"{x:g}", str(x)} | ({str(int(x))} if x.is_integer() else set())
            for i, tag in enumerate(self.values[1:], 1):
                if tag in spellings:
                    return i
        raise ConditionError(f"unknown {self.name} tag {text!r}; known tags: {', '.join(self.values[1:])}")


@dataclass
class EncodedConditions:
    """Model-ready conditions for N rows (numpy; the model converts to tensors)."""

    values: np.ndarray  # (N, P) float32, standardised, 0 where absent
    present: np.ndarray  # (N, P) float32, 1 where given
    tags: np.ndarray  # (N, T) int64, 0 where unspecified

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def select(self, idx: np.ndarray) -> EncodedConditions:
        return EncodedConditions(self.values[idx], self.present[idx], self.tags[idx])


class ConditionSpace:
    """The named conditions of a run, their statistics, and how to encode user requests."""

    def __init__(
        self, continuous: Sequence[ContinuousCondition], categorical: Sequence[CategoricalCondition]
    ):
        self.continuous = list(continuous)
        self.categorical = list(categorical)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.continuous] + [c.name for c in self.categorical]

    @property
    def num_continuous(self) -> int:
        return len(self.continuous)

    @property
    def tag_sizes(self) -> list[int]:
        return [len(c.values) for c in self.categorical]

    @classmethod
    def fit(
        cls,
        columns: Mapping[str, np.ndarray],
        tag_columns: Mapping[str, Sequence[str]],
        sources: Mapping[str, str] | None = None,
    ) -> ConditionSpace:
        """Statistics from training data: columns name -> float array, tag_columns name -> strings;
        sources name -> "rdkit" or "file" (where the column's values came from)."""
        cont = []
        for name, x in columns.items():
            x = np.asarray(x, dtype=np.float64)
            std = float(x.std()) if len(x) > 1 else 1.0
            q = np.quantile(x, [0.01, 0.5, 0.99]) if len(x) else np.zeros(3)
            cont.append(
                ContinuousCondition(
                    name=name,
                    mean=float(x.mean()) if len(x) else 0.0,
                    std=std if std > 1e-8 else 1.0,
                    minimum=float(x.min()) if len(x) else 0.0,
                    maximum=float(x.max()) if len(x) else 0.0,
                    quantiles={"p01": float(q[0]), "p50": float(q[1]), "p99": float(q[2])},
                    source=(sources or {}).get(name),
                )
            )
        cats = [
            CategoricalCondition(name, [UNSPECIFIED_TAG, *sorted(set(vals))])
            for name, vals in tag_columns.items()
        ]
        return cls(cont, cats)

    def encode_columns(
        self, columns: Mapping[str, np.ndarray], tag_columns: Mapping[str, Sequence[str]], n: int
    ) -> EncodedConditions:
        """Encode whole training/validation columns of n rows (every condition present)."""
        values = np.zeros((n, self.num_continuous), dtype=np.float32)
        for j, c in enumerate(self.continuous):
            values[:, j] = c.standardise(np.asarray(columns[c.name], dtype=np.float64))
        tags = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for j, cat in enumerate(self.categorical):
            tags[:, j] = [cat.index(v) for v in tag_columns[cat.name]]
        return EncodedConditions(values, np.ones_like(values), tags)

    def check_names(self, names: Iterable[str]) -> None:
        """Raise ConditionError naming the first unknown condition and the known ones."""
        known = set(self.names)
        unknown = [k for k in names if k not in known]
        if unknown:
            raise ConditionError(
                f"unknown condition {unknown[0]!r}; this model knows: {', '.join(self.names) or '(none)'}"
            )

    def encode_request(self, request: Mapping[str, Any], n: int) -> EncodedConditions:
        """Encode one user request (name -> value) for n samples; absent names are unspecified."""
        self.check_names(request)
        values = np.zeros((n, self.num_continuous), dtype=np.float32)
        present = np.zeros_like(values)
        for j, c in enumerate(self.continuous):
            if c.name in request:
                x = _as_float(c.name, request[c.name])
                values[:, j] = c.standardise(np.array(x))
                present[:, j] = 1.0
        tags = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for j, cat in enumerate(self.categorical):
            if cat.name in request:
                tags[:, j] = cat.index(request[cat.name])
        return EncodedConditions(values, present, tags)

    def canonical_request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The request as the model knows it: continuous targets as floats, tags as their known
        spelling (stars=5.0 -> "5"). Unknown names, tags and non-numbers raise ConditionError."""
        self.check_names(request)
        kinds = {c.name: c for c in self.categorical}
        out: dict[str, Any] = {}
        for name, value in request.items():
            cat = kinds.get(name)
            out[name] = cat.values[cat.index(value)] if cat else _as_float(name, value)
        return out

    def out_of_range(self, request: Mapping[str, Any]) -> list[str]:
        """Warnings for continuous targets outside the range seen in training."""
        out = []
        for c in self.continuous:
            if c.name in request:
                x = _as_float(c.name, request[c.name])
                if not c.minimum <= x <= c.maximum:
                    out.append(
                        f"{c.name}={x:g} is outside the training range "
                        f"[{c.minimum:g}, {c.maximum:g}]; results will be unreliable"
                    )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "continuous": [vars(c) for c in self.continuous],
            "categorical": [vars(c) for c in self.categorical],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConditionSpace:
        return cls(
            [ContinuousCondition(**c) for c in data["continuous"]],
            [CategoricalCondition(**c) for c in data["categorical"]],
        )


def _as_float(name: str, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConditionError(f"condition {name}={value!r} is not a number") from None
    if not math.isfinite(x):
        raise ConditionError(f"condition {name}={value!r} must be a finite number")
    return x


def _number(value: Any) -> float | None:
    """A finite number given as int, float or numeric text; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def parse_condition_value(text: str) -> float | str:
    """A condition value typed by a user: a number when it reads as one ("2.5", "5", "nan"), else the
    text as a tag ("pos"). Numbers also match numeric tags (see CategoricalCondition.index)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return text


def split_name_value(item: str, what: str = "condition") -> tuple[str, str]:
    """`NAME=VALUE` -> (NAME, VALUE), both stripped; ConditionError unless both are non-empty.
    `what` names the option in the message (e.g. "--tolerance")."""
    name, sep, value = (s.strip() for s in item.partition("="))
    if not sep or not name or not value:
        raise ConditionError(f"{what} {item!r}: expected NAME=VALUE, e.g. LogP=2.5 or sentiment=pos")
    return name, value


def parse_condition(item: str, what: str = "condition") -> tuple[str, float | str]:
    """`LogP=2.5` -> ("LogP", 2.5); `sentiment=pos` -> ("sentiment", "pos"); `stars=5` -> ("stars", 5.0),
    which matches the tag "5". The one parser of NAME=VALUE conditions (generate, transfer, sweep)."""
    name, value = split_name_value(item, what)
    return name, parse_condition_value(value)
