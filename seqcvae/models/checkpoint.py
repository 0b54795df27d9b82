"""Checkpoints: self-contained directories, atomic writes, no pickle.

Layout of a checkpoint directory::

    meta.json            format version, step/epoch/position, metrics, model shape
    config.json          the resolved RunConfig
    model.safetensors    weights (loading runs no code)
    tokenizer.json       tokenizer (vocabulary)
    conditions.json      condition names, statistics, tag sets
    train_state.safetensors + train_state.json   optimizer tensors and scalars, RNG states
                                                 (CPU, and CUDA where in use; only in
                                                 resumable checkpoints)

A write goes to a temporary sibling directory which is then fsynced and renamed into place
(seqcvae.io.atomic.replace_dir); the previous checkpoint is kept as `<name>.old` until the new one
is in place, so a crash at any point leaves a loadable checkpoint, and loading falls back to
`<name>.old` when `<name>` is missing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from seqcvae.errors import CheckpointError
from seqcvae.io.atomic import replace_dir

FORMAT_VERSION = 1

# `pretrained:NAME` names a checkpoint that ships inside the package (seqcvae/pretrained/NAME, with
# its MODEL_CARD.md): usable right after install, with no training and no network.
PRETRAINED_PREFIX = "pretrained:"
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"


def pretrained_names() -> list[str]:
    """The names of the checkpoints that ship with the package."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "meta.json").is_file())


def pretrained_path(spec: str) -> Path:
    """The directory of `pretrained:NAME`; an unknown name fails naming the ones there are."""
    name = spec[len(PRETRAINED_PREFIX) :]
    names = pretrained_names()
    if name not in names:
        raise CheckpointError(
            f"no pretrained model {name!r}; the package ships: "
            + (", ".join(f"pretrained:{n}" for n in names) or "none")
        )
    return PRETRAINED_DIR / name


def checkpoint_label(path: Path) -> str:
    """How a checkpoint is named in another run's record: `pretrained:NAME` for one that ships
    with the package (its directory differs from one install to the next), else its absolute path."""
    where = path.resolve()
    if where.parent == PRETRAINED_DIR.resolve():
        return PRETRAINED_PREFIX + where.name
    return str(where)


REQUIRED_FILES = (
    "meta.json",
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "conditions.json",
)


@dataclass
class CheckpointData:
    meta: dict[str, Any]
    config: dict[str, Any]
    weights: dict[str, torch.Tensor]
    tokenizer: dict[str, Any]
    conditions: dict[str, Any]
    train_state: dict[str, Any] | None = None  # optimizer state_dict and RNG states
    path: Path = field(default_factory=Path)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True), encoding="utf-8")


def _split_tensors(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace tensors in a nested structure by {"__tensor__": key}, collecting them."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {str(k): _split_tensors(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        return {k: _join_tensors(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_tensors(v, tensors) for v in obj]
    return obj


def rng_state() -> dict[str, Any]:
    """The Python, NumPy and torch CPU RNG states, and where CUDA is in use those of its devices
    (dropout on the GPU draws from them)."""
    np_state: Any = np.random.get_state()
    state = {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore rng_state(); CUDA states only where CUDA is available, for the devices there."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_s = state["numpy"]
    np.random.set_state((np_s[0], np.array(np_s[1], dtype=np.uint32), *np_s[2:]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available():
        for device, s in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, device)


def save_checkpoint(path: Path, data: CheckpointData) -> None:
    """Write `data` to directory `path` atomically (built in a temporary sibling, fsynced and
    swapped in by seqcvae.io.atomic.replace_dir)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _write_dir(tmp, data)
        replace_dir(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_dir(tmp: Path, data: CheckpointData) -> None:
    meta = {**data.meta, "format_version": FORMAT_VERSION}
    _write_json(tmp / "meta.json", meta)
    _write_json(tmp / "config.json", data.config)
    _write_json(tmp / "tokenizer.json", data.tokenizer)
    _write_json(tmp / "conditions.json", data.conditions)
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in data.weights.items()},
        str(tmp / "model.safetensors"),
    )
    if data.train_state is not None:
        tensors: dict[str, torch.Tensor] = {}
        skeleton = _split_tensors(data.train_state, "s", tensors)
        save_file(tensors, str(tmp / "train_state.safetensors"))
        _write_json(tmp / "train_state.json", skeleton)


def resolve_checkpoint(path: str | Path, which: str = "best") -> Path:
    """Accept a checkpoint directory or a run directory (then checkpoints/<which>, else best, else
    last), or `pretrained:NAME` (a checkpoint shipped with the package). Where a save was cut
    between its two renames, only `<name>.old` is there: it is taken for `<name>`, whichever way
    the checkpoint is named."""
    if isinstance(path, str) and path.startswith(PRETRAINED_PREFIX):
        return pretrained_path(path)
    p = Path(path)
    old = p.with_name(p.name + ".old")
    if (p / "meta.json").exists():
        return p
    if (old / "meta.json").exists():
        return old
    if not p.exists():
        raise CheckpointError(
            f"checkpoint path {str(p)!r} does not exist; give a run directory (from "
            "`seqcvae train`), one of its checkpoints/<best|last> directories, or pretrained:NAME "
            f"({', '.join(pretrained_names()) or 'none shipped'})"
        )
    for name in (which, "best", "last"):
        for cand in (p / "checkpoints" / name, p / "checkpoints" / f"{name}.old"):
            if (cand / "meta.json").exists():
                return cand
    raise CheckpointError(
        f"{str(p)!r} is neither a checkpoint directory (with meta.json) nor a run directory "
        "with checkpoints/best or checkpoints/last"
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint file {str(path)!r} is unreadable or corrupted: {exc}") from None


def load_checkpoint(path: str | Path, which: str = "best", with_train_state: bool = False) -> CheckpointData:
    """Load a checkpoint (no code is executed: JSON and safetensors only)."""
    ckpt = resolve_checkpoint(path, which)
    missing = [f for f in REQUIRED_FILES if not (ckpt / f).exists()]
    if missing:
        raise CheckpointError(f"checkpoint {str(ckpt)!r} is incomplete: missing {', '.join(missing)}")
    meta = _read_json(ckpt / "meta.json")
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(ckpt)!r} has format version {version!r}; this seqcvae reads "
            f"version {FORMAT_VERSION}"
        )
    try:
        weights = load_file(str(ckpt / "model.safetensors"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint weights {str(ckpt / 'model.safetensors')!r} are corrupted or truncated: {exc}"
        ) from None
    train_state = None
    if with_train_state:
        if not (ckpt / "train_state.json").exists():
            raise CheckpointError(f"checkpoint {str(ckpt)!r} has no training state to resume from")
        try:
            tensors = load_file(str(ckpt / "train_state.safetensors"))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"training state in {str(ckpt)!r} is corrupted: {exc}") from None
        train_state = _join_tensors(_read_json(ckpt / "train_state.json"), tensors)
    return CheckpointData(
        meta=meta,
        config=_read_json(ckpt / "config.json"),
        weights=weights,
        tokenizer=_read_json(ckpt / "tokenizer.json"),
        conditions=_read_json(ckpt / "conditions.json"),
        train_state=train_state,
        path=ckpt,
    )
