"""MOSES molecule-set metrics, with MOSES's definitions (molsets 0.3.1), computed in worker processes.

For generated SMILES `gen` against a reference set (the MOSES test split, say) and a training set:

- valid: fraction of `gen` that RDKit parses and sanitises (the empty string is invalid);
- unique@k: distinct canonical SMILES among the first k *valid* molecules, divided by k (or by the
  number of valid molecules when fewer);
- Novelty: distinct valid canonical SMILES not in the training set (compared as given: MOSES's
  files are canonical), over distinct valid canonical SMILES;
- IntDiv / IntDiv2: 1 - mean over valid molecules of the (power-p mean) Tanimoto similarity to all
  valid molecules, itself included (Morgan radius 2, 1024 bits);
- SNN: mean over valid molecules of the highest Tanimoto similarity to a reference molecule;
- Frag / Scaf: cosine similarity of BRICS-fragment counts / Bemis-Murcko scaffold counts (scaffolds
  with at least 2 rings) between the valid generated and the reference molecules;
- Filters: fraction of valid molecules with no ring of 8 or more atoms, no charged atom, only
  C N S O F Cl Br H, and no match of the MCF or PAINS SMARTS that MOSES ships
  (seqcvae/chem/data/moses_filters.json, copied from the molsets wheel);
- logP / SA / QED / weight: 1-D Wasserstein distance between the property values of the valid
  generated and the reference molecules;
- FCD: Frechet ChemNet Distance via the optional package fcd_torch (`pip install seqcvae[fcd]`);
  NaN when it is not installed.

Duplicates count as MOSES counts them (every valid generated molecule, repeats included); features are
computed once per distinct SMILES and weighted by multiplicity, which gives the same numbers faster.
`scripts/moses_parity.py` checks every metric against molsets itself.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold

from seqcvae.chem.properties import sa_score
from seqcvae.paths import file_sha256, user_cache_dir

RDLogger.DisableLog("rdApp.*")

FP_BITS = 1024
ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
PROPERTY_METRICS = ("logP", "SA", "QED", "weight")
REFERENCE_CACHE_VERSION = 1


def moses_mol(smiles: str) -> Chem.Mol | None:
    """Parse as MOSES does: empty string or unparsable/unsanitisable SMILES -> None."""
    if not smiles:
        return None
    try:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return None
        Chem.SanitizeMol(mol)
    except Exception:  # RDKit raises for some malformed inputs instead of returning None
        return None
    return mol


def moses_canonical(smiles: str) -> str | None:
    mol = moses_mol(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


@functools.lru_cache(maxsize=1)
def _filters() -> list[tuple[Chem.Mol, Any]]:
    """(pattern, its RDKit pattern fingerprint) for every MCF and PAINS SMARTS."""
    path = resources.files("seqcvae") / "chem" / "data" / "moses_filters.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    patterns = [Chem.MolFromSmarts(smarts) for _, smarts in doc["filters"]]
    bad = [name for (name, _), p in zip(doc["filters"], patterns) if p is None]
    if bad:
        raise RuntimeError(f"unparsable filter SMARTS in moses_filters.json: {bad}")
    return [(p, Chem.PatternFingerprint(p)) for p in patterns]


@functools.lru_cache(maxsize=1)
def _morgan() -> Any:
    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FP_BITS)


def passes_filters(mol: Chem.Mol) -> bool:
    """MOSES's mol_passes_filters with its defaults."""
    rings = mol.GetRingInfo()
    if rings.NumRings() and any(len(r) >= 8 for r in rings.AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 for a in mol.GetAtoms()):
        return False
    if any(a.GetSymbol() not in ALLOWED_ATOMS for a in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)
    # Pattern-fingerprint screen first (a match needs all the pattern's bits): 5x fewer
    # substructure searches, same answers (checked against molsets by scripts/moses_parity.py).
    screen = Chem.PatternFingerprint(with_h)
    for pattern, bits in _filters():
        if DataStructs.AllProbeBitsMatch(bits, screen) and with_h.HasSubstructMatch(pattern):
            return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smiles) and Chem.MolFromSmiles(smiles) is not None


def scaffold(mol: Chem.Mol, min_rings: int = 2) -> str | None:
    try:
        scaf = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(scaf)
    if not smiles or scaf.GetRingInfo().NumRings() < min_rings:
        return None
    return smiles


@dataclass
class MolFeatures:
    """Everything the set metrics need from one molecule."""

    fp: bytes  # packed Morgan bits (radius 2, 1024 bits), np.packbits order
    fragments: list[str]
    scaffold: str | None
    passes: bool
    properties: tuple[float, float, float, float]  # logP, SA, QED, weight


def mol_features(mol: Chem.Mol) -> MolFeatures:
    bits = np.zeros(FP_BITS, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(_morgan().GetFingerprint(mol), bits)
    fragments = Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split(".")
    props = (
        float(Crippen.MolLogP(mol)),
        sa_score(mol),
        float(QED.qed(mol)),
        float(Descriptors.MolWt(mol)),
    )
    return MolFeatures(np.packbits(bits).tobytes(), fragments, scaffold(mol), passes_filters(mol), props)


def _features_of(smiles: str) -> MolFeatures | None:
    mol = moses_mol(smiles)
    return None if mol is None else mol_features(mol)


def _features_chunk(chunk: list[str]) -> list[MolFeatures | None]:
    return [_features_of(s) for s in chunk]


def _canonical_chunk(chunk: list[str]) -> list[str | None]:
    return [moses_canonical(s) for s in chunk]


def _parallel_map(fn: Any, items: Sequence[str], workers: int, chunk_size: int = 500) -> list[Any]:
    """fn over chunks of items, in `workers` spawned processes when worth it (order kept)."""
    chunks = [list(items[i : i + chunk_size]) for i in range(0, len(items), chunk_size)]
    if workers <= 1 or len(chunks) < 2:
        return [r for c in chunks for r in fn(c)]
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(min(workers, len(chunks))) as pool:
        parts = pool.map(fn, chunks)
    return [r for part in parts for r in part]


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
        tmp = path.with_name(path.name + ".tmp.npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)

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


def fcd_available() -> bool:
    try:
        import fcd_torch  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=4)
def _fcd_model(workers: int, device: str) -> Any:
    from fcd_torch import FCD

    return FCD(device=device, n_jobs=max(1, workers), batch_size=512)


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
    feats = _parallel_map(_features_chunk, distinct, workers)
    keep = [i for i, f in enumerate(feats) if f is not None]
    n_invalid = sum(counts[distinct[i]] for i, f in enumerate(feats) if f is None)
    weights = np.array([counts[distinct[i]] for i in keep], dtype=np.int64)
    good = [feats[i] for i in keep]
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
    if fcd and fcd_available() and good:
        valid = [distinct[i] for i in keep]
        model = _fcd_model(workers, device)
        stats.fcd = model.precalc([s for s, w in zip(valid, weights.tolist()) for _ in range(w)])
    return stats


def agg_tanimoto(
    ref: np.ndarray,
    gen: np.ndarray,
    agg: str = "max",
    p: int = 1,
    ref_weights: np.ndarray | None = None,
    batch: int = 4096,
) -> np.ndarray:
    """For each gen fingerprint: max (or power-p weighted mean) Tanimoto similarity to ref rows.

    0/0 (two empty fingerprints) counts as similarity 1, as in MOSES.
    """
    if agg not in ("max", "mean"):
        raise ValueError(f"agg must be 'max' or 'mean', got {agg!r}")
    out = np.zeros(len(gen), dtype=np.float64)
    w = np.ones(len(ref)) if ref_weights is None else ref_weights.astype(np.float64)
    g_all = gen.astype(np.float32)
    r_all = ref.astype(np.float32)
    g_bits, r_bits = g_all.sum(1), r_all.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(0, len(gen), batch):
            g = g_all[i : i + batch]
            acc = np.zeros(len(g), dtype=np.float64)
            for j in range(0, len(ref), batch):
                both = r_all[j : j + batch] @ g.T  # (R, G) common on-bits, exact in fp32
                sim = both / (r_bits[j : j + batch, None] + g_bits[None, i : i + batch] - both)
                sim[np.isnan(sim)] = 1.0
                if agg == "max":
                    acc = np.maximum(acc, sim.max(0))
                else:
                    acc += (sim.astype(np.float64) ** p * w[j : j + batch, None]).sum(0)
            out[i : i + batch] = acc
    if agg == "mean":
        out /= w.sum()
        if p != 1:
            out = out ** (1.0 / p)
    return out


def cosine_similarity(ref: Counter[str], gen: Counter[str]) -> float:
    """Cosine similarity of two count vectors given as {key: count}; NaN if either is empty."""
    if not ref or not gen:
        return math.nan
    keys = set(ref) | set(gen)
    r = np.array([ref.get(k, 0) for k in keys], dtype=np.float64)
    g = np.array([gen.get(k, 0) for k in keys], dtype=np.float64)
    return float(r @ g / (np.linalg.norm(r) * np.linalg.norm(g)))


def wasserstein_1d(
    u: np.ndarray, v: np.ndarray, u_weights: np.ndarray | None = None, v_weights: np.ndarray | None = None
) -> float:
    """First Wasserstein distance between two 1-D empirical distributions (as scipy.stats)."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    uw = np.ones(len(u)) if u_weights is None else np.asarray(u_weights, dtype=np.float64)
    vw = np.ones(len(v)) if v_weights is None else np.asarray(v_weights, dtype=np.float64)
    if not len(u) or not len(v):
        return math.nan
    ui, vi = np.argsort(u), np.argsort(v)
    values = np.sort(np.concatenate([u, v]))
    deltas = np.diff(values)
    ucdf = np.concatenate([[0.0], np.cumsum(uw[ui])])[np.searchsorted(u[ui], values[:-1], "right")]
    vcdf = np.concatenate([[0.0], np.cumsum(vw[vi])])[np.searchsorted(v[vi], values[:-1], "right")]
    return float(np.sum(np.abs(ucdf / uw.sum() - vcdf / vw.sum()) * deltas))


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> float:
    return float((x * w).sum() / w.sum()) if w.sum() else math.nan


def internal_diversity(stats: SetStats, p: int = 1) -> float:
    sims = agg_tanimoto(stats.fps, stats.fps, agg="mean", p=p, ref_weights=stats.weights)
    return 1.0 - _weighted_mean(sims, stats.weights)


def compare_sets(gen: SetStats, ref: SetStats, device: str = "cpu") -> dict[str, float]:
    """FCD, SNN, Frag, Scaf and the property Wasserstein distances of gen against ref."""
    out: dict[str, float] = {"FCD": math.nan}
    if gen.fcd is not None and ref.fcd is not None:
        out["FCD"] = float(_fcd_model(1, device).metric(ref.fcd, gen.fcd))
    snn = agg_tanimoto(ref.fps, gen.fps, agg="max") if len(ref.fps) else np.full(len(gen.fps), math.nan)
    out["SNN"] = _weighted_mean(snn, gen.weights)
    out["Frag"] = cosine_similarity(ref.fragments, gen.fragments)
    out["Scaf"] = cosine_similarity(ref.scaffolds, gen.scaffolds)
    for name in PROPERTY_METRICS:
        out[name] = wasserstein_1d(ref.properties[name], gen.properties[name], ref.weights, gen.weights)
    return out


def reference_cache_path(path: Path, fcd: bool) -> Path:
    """Cache file for a reference file's statistics, keyed by its content and our version."""
    digest = file_sha256(path)[:24]
    return (
        user_cache_dir("reference") / f"{digest}-v{REFERENCE_CACHE_VERSION}-{'fcd' if fcd else 'nofcd'}.npz"
    )


def molecule_metrics(
    generated: Sequence[str],
    references: Mapping[str, Sequence[str] | SetStats] | None = None,
    train: Iterable[str] | None = None,
    ks: Sequence[int] = (1000, 10000),
    workers: int = 1,
    fcd: bool = True,
    device: str = "cpu",
) -> dict[str, float]:
    """MOSES metrics of generated SMILES (see the module docstring for each definition).

    references: name -> SMILES (or precomputed `set_stats`), e.g. {"Test": test, "TestSF": scaffold
    test}; gives FCD/<name>, SNN/<name>, Frag/<name>, Scaf/<name>, and the property distances
    against the first one (as MOSES against its test set). train: training SMILES for Novelty.
    Keys and order are those of MOSES's get_all_metrics.
    """
    if not len(generated):
        raise ValueError("no generated SMILES to evaluate")
    references = dict(references or {})
    canonical = _parallel_map(_canonical_chunk, generated, workers, chunk_size=2000)
    valid = [c for c in canonical if c is not None]
    out: dict[str, float] = {"valid": len(valid) / len(generated)}
    for k in ks:
        head = valid[:k]
        out[f"unique@{k}"] = len(set(head)) / len(head) if head else math.nan
    if not valid:  # every other metric is undefined
        names = [f"{m}/{r}" for r in references for m in ("FCD", "SNN", "Frag", "Scaf")]
        names += ["IntDiv", "IntDiv2", "Filters"]
        names += list(PROPERTY_METRICS) if references else []
        names += ["Novelty"] if train is not None else []
        return {**out, **dict.fromkeys(names, math.nan)}
    gen = set_stats(valid, workers=workers, fcd=fcd and bool(references), device=device)
    properties: dict[str, float] = {}
    for i, (name, ref) in enumerate(references.items()):
        if not isinstance(ref, SetStats):
            ref = set_stats(list(ref), workers=workers, fcd=fcd, device=device)
        compared = compare_sets(gen, ref, device=device)
        for metric in ("FCD", "SNN", "Frag", "Scaf"):
            out[f"{metric}/{name}"] = compared[metric]
        if i == 0:
            properties = {k: compared[k] for k in PROPERTY_METRICS}
    out["IntDiv"] = internal_diversity(gen, p=1)
    out["IntDiv2"] = internal_diversity(gen, p=2)
    out["Filters"] = _weighted_mean(gen.passes.astype(np.float64), gen.weights)
    out.update(properties)
    if train is not None:
        train_set = train if isinstance(train, (set, frozenset)) else set(train)
        distinct = set(valid)
        out["Novelty"] = sum(1 for s in distinct if s not in train_set) / len(distinct)
    return out
