"""A generated sequence as the library hands it back: the sequence, its RDKit check (SMILES runs)
and the conditions it was asked for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Record:
    """One generated sequence with its RDKit check (SMILES runs) and the requested targets."""

    index: int
    sequence: str  # as generated
    canonical: str | None = None  # RDKit canonical SMILES, None if invalid
    valid: bool = False
    properties: dict[str, float] = field(default_factory=dict)  # RDKit-measured
    targets: dict[str, Any] = field(default_factory=dict)  # the requested conditions
    extra: dict[str, Any] = field(default_factory=dict)  # tool-specific columns (similarity, ...)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "sequence": self.sequence,
            "canonical": self.canonical,
            "valid": self.valid,
            "properties": self.properties,
            "targets": self.targets,
            **({"extra": self.extra} if self.extra else {}),
        }
