"""A molecule multiset summarised for the metrics (SetStats), its npz format and its cache path."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqcvae.chem.moses.fcd import fcd_statistics
from seqcvae.chem.moses.features import FP_BITS, PROPERTY_METRICS, features_chunk
from seqcvae.io.atomic import atomic_open
from seqcvae.io.cache import file_sha256, user_cache_dir
from seqcvae.parallel import map_chunks

REFERENCE_CACHE_VERSION = 1


@dataclass
class SetStats:
    """A molecule multiset summarised for the metrics: distinct molecules with counts.

    Used both for the generated set and, saved to disk, as cached reference statistics.
    """

    fps: np.ndarray  # (n_distinct, FP_BITS) uint8 0/1
    weights: np.ndarray  # (n_distinct,) multiplicity
    fragments: Counter[str]
    scaffolds: Counter[str]
    properties: dict[str, np.ndarray]  # name -> (n_distinct,)
    passes: np.ndarray  # (n_distinct,) bool
    fcd: dict[str, np.ndarray] | None = None  # ChemNet activations' mu, sigma
    n_invalid: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.weights.sum())

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "fps": np.packbits(self.fps, axis=1),
            "weights": self.weights,
            "passes": self.passes,
            # SMILES keys as str arrays, so loading needs no pickle
            "frag_keys": np.array(list(self.fragments), dtype=str),
            "frag_counts": np.array(list(self.fragments.values()), dtype=np.int64),
            "scaf_keys": np.array(list(self.scaffolds), dtype=str),
            "scaf_counts": np.array(list(self.scaffolds.values()), dtype=np.int64),
            "meta": np.array(json.dumps({**self.meta, "n_invalid": self.n_invalid})),
        }
        arrays.update({f"prop_{k}": v for k, v in self.properties.items()})
        if self.fcd is not None:
            arrays.update({f"fcd_{k}": v for k, v in self.fcd.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> SetStats:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            fcd = {k[4:]: z[k] for k in z.files if k.startswith("fcd_")} or None
            return cls(
                fps=np.unpackbits(z["fps"], axis=1)[:, :FP_BITS],
                weights=z["weights"],
                fragments=Counter(dict(zip(z["frag_keys"].tolist(), z["frag_counts"].tolist()))),
                scaffolds=Counter(dict(zip(z["scaf_keys"].tolist(), z["scaf_counts"].tolist()))),
                properties={k[5:]: z[k] for k in z.files if k.startswith("prop_")},
                passes=z["passes"],
                fcd=fcd,
                n_invalid=int(meta.pop("n_invalid", 0)),
                meta=meta,
            )


def set_stats(
    smiles: Sequence[str],
    workers: int = 1,
    fcd: bool = True,
    device: str = "cpu",
) -> SetStats:
    """Statistics of a set of SMILES (invalid ones are counted in n_invalid and left out).

    FCD statistics are taken over the SMILES as given (fcd_torch canonicalises them itself).
    """
    counts: Counter[str] = Counter(s for s in smiles)
    distinct = list(counts)
    feats = map_chunks(features_chunk, distinct, chunk_size=500, workers=workers)
    keep = [i for i, f in enumerate(feats) if f is not None]
    n_invalid = sum(counts[distinct[i]] for i, f in enumerate(feats) if f is None)
    weights = np.array([counts[distinct[i]] for i in keep], dtype=np.int64)
    good = [f for f in feats if f is not None]
    packed = np.frombuffer(b"".join(f.fp for f in good), dtype=np.uint8).reshape(len(good), FP_BITS // 8)
    fps = np.unpackbits(packed, axis=1)
    fragments: Counter[str] = Counter()
    scaffolds: Counter[str] = Counter()
    for f, w in zip(good, weights.tolist()):
        for frag in f.fragments:
            fragments[frag] += w
        if f.scaffold is not None:
            scaffolds[f.scaffold] += w
    props = np.array([f.properties for f in good], dtype=np.float64).reshape(len(good), 4)
    stats = SetStats(
        fps=fps,
        weights=weights,
        fragments=fragments,
        scaffolds=scaffolds,
        properties={name: props[:, i] for i, name in enumerate(PROPERTY_METRICS)},
        passes=np.array([f.passes for f in good], dtype=bool),
        n_invalid=n_invalid,
    )
    if fcd and good:
        valid = [distinct[i] for i in keep]
        repeated = [s for s, w in zip(valid, weights.tolist()) for _ in range(w)]
        stats.fcd = fcd_statistics(repeated, workers, device)
    return stats


def reference_cache_path(path: Path, fcd: bool) -> Path:
    """Cache file for a reference file's statistics, keyed by its content and our version."""
    digest = file_sha256(path)[:24]
    return (
        user_cache_dir("reference") / f"{digest}-v{REFERENCE_CACHE_VERSION}-{'fcd' if fcd else 'nofcd'}.npz"
    )
