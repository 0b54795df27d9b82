"""Value formatting shared by the CSV and JSON writers (no dependencies inside seqcvae)."""

from __future__ import annotations

import json
import math
from typing import Any


def format_cell(v: Any) -> str:
    """A CSV cell: empty for None/NaN, 6 significant digits for floats, str otherwise."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def json_safe(obj: Any) -> Any:
    """NaN/inf -> None (null), recursively through dicts, lists and tuples: strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def to_json(obj: Any) -> str:
    """Strict JSON (NaN/inf as null, json_safe), indented by 2: the CLI's --json and report files."""
    return json.dumps(json_safe(obj), indent=2, allow_nan=False)
