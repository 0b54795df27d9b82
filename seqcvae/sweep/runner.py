"""Run a sweep: generate at every target, check with RDKit, summarise, stream everything to disk.

Directory layout (`out/`):
    spec.json                  the spec (a rerun must use the same one; finished targets are skipped)
    parts/target_00012.csv     samples of one target (written atomically)
    parts/target_00012.json    its summary; its presence marks the target finished
    samples.csv                all samples (merged from parts/, streamed)
    summary.csv                one row per target
    overall.json               per-property Spearman / MAE over all targets, and the run's settings
    plots/*.png                target vs measured per property; a heat map for two-property sweeps
    molecules/target_00012.png example molecules per target
    molecules.sdf              valid molecules with measured and target values (spec.sdf = true)

Generation holds one target's samples at a time; merging streams the parts and keeps only the
(target, measured) pairs that the overall Spearman needs (about 70 bytes per valid sample: 66 MB
peak for 1M samples, tests/test_sweep.py). Interrupting loses at most the target in progress.
Under torchrun each rank takes every WORLD_SIZE-th target; rank 0 merges once all are finished.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqcvae.chem.metrics import set_metrics
from seqcvae.errors import ConfigError, SeqCVAEError
from seqcvae.formatting import format_cell, json_safe
from seqcvae.generation.generator import Generator, Record
from seqcvae.stats import spearman
from seqcvae.sweep.spec import SweepSpec

DEFAULT_TOLERANCE_FRACTION = 0.05  # of the property's training range


@dataclass
class SweepPlan:
    spec: SweepSpec
    requests: list[dict[str, Any]]
    continuous: list[str]  # swept continuous conditions (compared with RDKit measurements)
    tags: list[str]  # swept categorical conditions
    measured: list[str]  # properties RDKit measures for every sample
    tolerance: dict[str, float]


def plan_sweep(gen: Generator, spec: SweepSpec) -> SweepPlan:
    """Check the spec against the model's conditions; fill default tolerances."""
    spec.validate()
    space = gen.conditions
    space.check_names(set(spec.targets) | set(spec.fixed))
    cont = {c.name: c for c in space.continuous}
    cats = {c.name: c for c in space.categorical}
    for name, values in spec.targets.items():
        for v in values:
            if name in cont and isinstance(v, str):
                raise ConfigError(
                    f"target {name}={v!r}: {name} is a number; give a value, V1,V2,... or START:STOP:STEPS"
                )
            if name in cats:
                cats[name].index(v)  # unknown tags fail, naming the known ones
    continuous = [n for n in spec.targets if n in cont]
    tolerance = {}
    for n in continuous:
        c = cont[n]
        tolerance[n] = float(spec.tolerance.get(n, DEFAULT_TOLERANCE_FRACTION * (c.maximum - c.minimum)))
    unknown_tol = sorted(set(spec.tolerance) - set(continuous))
    if unknown_tol:
        raise ConfigError(f"tolerance for {unknown_tol[0]!r}, which is not a swept property")
    requests = spec.grid()
    for i, r in enumerate(requests):
        known = space.canonical_request(r)  # bad fixed values fail here, before anything is written
        requests[i] = {k: known[k] if k in cats else v for k, v in r.items()}  # stars=5.0 -> "5"
    gen.default_settings(**spec.sample)  # unknown / bad sampling settings fail before any work
    return SweepPlan(
        spec,
        requests,
        continuous,
        [n for n in spec.targets if n in cats],
        gen.measured_properties() if gen.kind == "smiles" else [],
        tolerance,
    )


def _part(out: Path, i: int, ext: str) -> Path:
    return out / "parts" / f"target_{i:05d}.{ext}"


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, mode, newline="", encoding="utf-8") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def sample_header(plan: SweepPlan) -> list[str]:
    head = ["target_index", "index", "sequence"]
    if plan.measured:
        head += ["canonical_smiles", "valid", *plan.measured]
    return head + [f"target_{n}" for n in plan.spec.targets] + [f"fixed_{n}" for n in plan.spec.fixed]


def _rows(plan: SweepPlan, i: int, records: Sequence[Record]) -> list[list[Any]]:
    rows = []
    for r in records:
        row: list[Any] = [i, r.index, r.sequence]
        if plan.measured:
            measured = (format_cell(r.properties.get(p)) for p in plan.measured)
            row += [r.canonical or "", int(r.valid), *measured]
        row += [format_cell(r.targets.get(n)) for n in plan.spec.targets]
        row += [format_cell(r.targets.get(n)) for n in plan.spec.fixed]
        rows.append(row)
    return rows


def summarise_target(
    plan: SweepPlan,
    i: int,
    request: dict[str, Any],
    records: Sequence[Record],
    reference: set[str] | None,
    style: Any = None,
) -> dict[str, Any]:
    """Per-target summary: validity, uniqueness, novelty; per property mean/std/MAE/hit rate."""
    n = len(records)
    out: dict[str, Any] = {"target_index": i, **{f"target_{k}": request[k] for k in plan.spec.targets}}
    out["n"] = n
    if plan.measured:
        valid = [r for r in records if r.valid]
        sets = set_metrics([r.canonical for r in records], reference)
        out.update({k: sets[k] for k in ("validity", "uniqueness", "novelty")})
        hits_all = np.ones(len(valid), dtype=bool)
        for p in plan.measured:
            x = np.array([r.properties.get(p, math.nan) for r in valid], dtype=np.float64)
            out[f"{p}_mean"] = float(np.nanmean(x)) if len(x) else math.nan
            out[f"{p}_std"] = float(np.nanstd(x)) if len(x) else math.nan
            if p in plan.continuous:
                err = np.abs(x - float(request[p]))
                hit = err <= plan.tolerance[p]
                hits_all &= hit
                out[f"{p}_mae"] = float(np.nanmean(err)) if len(x) else math.nan
                out[f"{p}_hit_rate"] = float(hit.mean()) if len(x) else math.nan
        out["hit_rate"] = float(hits_all.mean()) if len(valid) and plan.continuous else math.nan
    else:
        from seqcvae.text.metrics import distinct_n

        texts = [r.sequence for r in records]
        out["uniqueness"] = len(set(texts)) / n
        out["distinct_1"] = distinct_n(texts, 1)
        out["distinct_2"] = distinct_n(texts, 2)
        if style is not None and plan.tags:
            acc = style.accuracy(texts, {t: [request[t]] * n for t in plan.tags})
            out.update({f"{t}_style_accuracy": acc.get(t, math.nan) for t in plan.tags})
    return out


def _style_classifier(gen: Generator, tags: list[str]) -> Any:
    """TF-IDF classifier of the swept tags, trained on the run's training file (None if absent)."""
    if not tags:
        return None
    from seqcvae.data.prepare import prepare_table
    from seqcvae.data.splits import resolve_data_path
    from seqcvae.text.metrics import StyleClassifier

    try:
        train = prepare_table(resolve_data_path(gen.config.data.train_path), gen.config.data)
    except SeqCVAEError:
        return None
    return StyleClassifier().fit(train.sequences, {t: train.tag_columns[t] for t in tags})


# Keys that change outputs or speed, not the samples (each sample depends only on its target's
# seed and its row, not on batching: tests/test_sampling.py checks batch_size).
OUTPUT_ONLY_KEYS = ("images", "sdf", "batch_size")


def _identity(spec_dict: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in spec_dict.items() if k not in OUTPUT_ONLY_KEYS}, sort_keys=True)


def _check_spec_file(out: Path, spec: SweepSpec, model: dict[str, Any]) -> None:
    """Write spec.json (the spec and the model) or check that an existing one matches."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"sweep output {str(out)!r} is a file; give a directory")
    path = out / "spec.json"
    doc = {**spec.to_dict(), "model": model}
    mine = _identity(doc)
    if path.exists():
        theirs_doc = json.loads(path.read_text(encoding="utf-8"))
        if theirs_doc.get("model") != model:
            raise ConfigError(
                f"sweep directory {str(out)!r} was made with another model "
                f"({theirs_doc.get('model')}); resume with that checkpoint, or choose another --out"
            )
        if _identity(theirs_doc) != mine:
            raise ConfigError(
                f"sweep directory {str(out)!r} holds a different sweep (spec.json differs); "
                "rerun with the same spec to resume, or choose another --out"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2) + "\n"
    _atomic_write(path, lambda fh: fh.write(text))


def run_targets(
    gen: Generator,
    plan: SweepPlan,
    out: Path,
    rank: int = 0,
    world: int = 1,
    workers: int = 1,
    log: Callable[[str], None] = print,
) -> int:
    """Generate and summarise this rank's unfinished targets. Returns how many it ran."""
    (out / "parts").mkdir(parents=True, exist_ok=True)
    reference = gen.reference_set() if plan.measured else None
    style = _style_classifier(gen, plan.tags) if gen.kind == "text" else None
    ran = 0
    total = len(plan.requests)
    for i, request in enumerate(plan.requests):
        if i % world != rank or _is_done(out, i):
            continue
        t0 = time.perf_counter()
        records = gen.generate(
            request,
            n=plan.spec.n,
            seed=plan.spec.seed + i,  # per target: resumed and sharded sweeps give the same samples
            batch_size=plan.spec.batch_size,
            workers=workers,
            **plan.spec.sample,
        )
        rows = _rows(plan, i, records)

        def write_rows(fh: Any, rows: list[list[Any]] = rows) -> None:
            w = csv.writer(fh)
            w.writerow(sample_header(plan))
            w.writerows(rows)

        _atomic_write(_part(out, i, "csv"), write_rows)
        summary = summarise_target(plan, i, request, records, reference, style)
        summary["seconds"] = round(time.perf_counter() - t0, 2)
        if plan.measured and plan.spec.images:
            _draw_examples(out, i, records, plan)
        _write_json(_part(out, i, "json"), summary)
        ran += 1
        log(_progress_line(plan, i, total, request, summary))
    return ran


def _progress_line(plan: SweepPlan, i: int, total: int, request: dict[str, Any], s: dict[str, Any]) -> str:
    where = " ".join(
        f"{k}={request[k]:g}" if isinstance(request[k], float) else f"{k}={request[k]}"
        for k in plan.spec.targets
    )
    parts = [f"target {i + 1}/{total} {where}:"]
    if "validity" in s:
        parts.append(f"validity {s['validity']:.2f}")
    for p in plan.continuous:
        parts.append(f"{p} {s[f'{p}_mean']:.2f} (MAE {s[f'{p}_mae']:.2f}, hit {s[f'{p}_hit_rate']:.2f})")
    for t in plan.tags:
        if f"{t}_style_accuracy" in s:
            parts.append(f"{t} accuracy {s[f'{t}_style_accuracy']:.2f}")
    parts.append(f"({s['seconds']:.1f} s)")
    return " ".join(parts)


def _draw_examples(out: Path, i: int, records: Sequence[Record], plan: SweepPlan) -> None:
    try:
        from rdkit import Chem
        from rdkit.Chem import Draw
    except ImportError:  # pragma: no cover - RDKit is a dependency
        return
    seen: set[str] = set()
    mols, legends = [], []
    for r in records:
        if r.valid and r.canonical and r.canonical not in seen:
            seen.add(r.canonical)
            mols.append(Chem.MolFromSmiles(r.canonical))
            legends.append(
                ", ".join(f"{p} {r.properties[p]:.2f}" for p in plan.continuous if p in r.properties)
            )
        if len(mols) >= plan.spec.images:
            break
    if not mols:
        return
    try:
        img = Draw.MolsToGridImage(mols, molsPerRow=4, subImgSize=(250, 200), legends=legends)
    except ImportError:  # Pillow missing: no images
        return
    (out / "molecules").mkdir(exist_ok=True)
    img.save(str(out / "molecules" / f"target_{i:05d}.png"))


def _write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj) + "\n"
    _atomic_write(path, lambda fh: fh.write(text))


def _is_done(out: Path, i: int) -> bool:
    """A target is finished when both its samples and its summary were written."""
    return _part(out, i, "json").exists() and _part(out, i, "csv").exists()


def finished(out: Path, plan: SweepPlan) -> list[int]:
    return [i for i in range(len(plan.requests)) if _is_done(out, i)]


def merge(out: Path, plan: SweepPlan, sdf: bool = False) -> dict[str, Any]:
    """samples.csv, summary.csv and overall.json from the finished parts (streamed, bounded memory)."""
    done = finished(out, plan)
    summaries = [json.loads(_part(out, i, "json").read_text(encoding="utf-8")) for i in done]
    header = sample_header(plan)
    measured_cols = {p: header.index(p) for p in plan.measured}
    target_cols = {p: header.index(f"target_{p}") for p in plan.continuous}
    # (target, measured) of every valid sample, as one float64 array per target: 16 bytes a pair
    pairs: dict[str, list[np.ndarray]] = {p: [] for p in plan.continuous}
    writer_sdf = None
    if sdf and plan.measured:
        from rdkit import Chem

        writer_sdf = Chem.SDWriter(str(out / "molecules.sdf.tmp"))

    def write_samples(fh: Any) -> None:
        w = csv.writer(fh)
        w.writerow(header)
        for i in done:
            chunk: dict[str, list[tuple[float, float]]] = {p: [] for p in plan.continuous}
            with open(_part(out, i, "csv"), newline="", encoding="utf-8") as part:
                reader = csv.reader(part)
                next(reader)
                for row in reader:
                    w.writerow(row)
                    if not plan.measured or row[4] != "1":
                        continue
                    for p, col in target_cols.items():
                        if row[measured_cols[p]]:
                            chunk[p].append((float(row[col]), float(row[measured_cols[p]])))
                    if writer_sdf is not None:
                        _write_sdf_row(writer_sdf, header, row)
            for p, pr in chunk.items():
                if pr:
                    pairs[p].append(np.array(pr, dtype=np.float64))

    _atomic_write(out / "samples.csv", write_samples)
    if writer_sdf is not None:
        writer_sdf.close()
        os.replace(out / "molecules.sdf.tmp", out / "molecules.sdf")
    columns = list(dict.fromkeys(k for s in summaries for k in s))

    def write_summary(fh: Any) -> None:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for s in summaries:
            w.writerow({k: format_cell(v) if isinstance(v, float) else v for k, v in s.items()})

    _atomic_write(out / "summary.csv", write_summary)
    overall: dict[str, Any] = {
        "targets": len(plan.requests),
        "finished": len(done),
        "n_per_target": plan.spec.n,
    }
    for p, chunks in pairs.items():
        if not chunks:
            continue
        t, m = np.concatenate(chunks).T
        pr = t
        means = [(s[f"target_{p}"], s[f"{p}_mean"]) for s in summaries if not math.isnan(s[f"{p}_mean"])]
        overall[p] = {
            "valid_samples": len(pr),
            "spearman": spearman(t, m),
            "mae": float(np.abs(t - m).mean()),
            "spearman_of_target_means": spearman(*zip(*means)) if len(means) >= 3 else math.nan,
            "mean_of_target_maes": float(np.mean([s[f"{p}_mae"] for s in summaries])),
            "hit_rate": float(np.mean(np.abs(t - m) <= plan.tolerance[p])),
            "tolerance": plan.tolerance[p],
        }
    if plan.measured and summaries:
        overall["validity"] = float(np.mean([s["validity"] for s in summaries]))
    _atomic_write(out / "overall.json", lambda fh: fh.write(json.dumps(json_safe(overall), indent=2) + "\n"))
    return overall


def _write_sdf_row(writer: Any, header: list[str], row: list[str]) -> None:
    from rdkit import Chem

    mol = Chem.MolFromSmiles(row[3])
    if mol is None:
        return
    for name, value in zip(header, row):
        if name not in ("sequence", "canonical_smiles", "valid") and value != "":
            mol.SetProp(name, value)
    writer.write(mol)


def run_sweep(
    gen: Generator,
    spec: SweepSpec,
    out: str | Path,
    workers: int = 1,
    plots: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run (or resume) a sweep into `out`; returns the overall summary.

    Under torchrun (WORLD_SIZE > 1) every rank calls this; each runs its share of the targets,
    then rank 0 merges and plots after a barrier.
    """
    out = Path(out)
    plan = plan_sweep(gen, spec)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    model = gen.source or {"run_dir": str(gen.run_dir) if gen.run_dir else None}
    if rank == 0:
        _check_spec_file(out, spec, model)
    dist = _barrier_group(world)
    if rank != 0:
        _check_spec_file(out, spec, model)
    skipped = len([i for i in finished(out, plan) if i % world == rank])
    if skipped:
        log(f"resuming: {skipped} of this rank's targets already finished")
    run_targets(gen, plan, out, rank, world, workers, log)
    if dist is not None:
        dist.barrier()
    if rank != 0:
        return {}
    overall = merge(out, plan, sdf=spec.sdf)
    if plots:
        from seqcvae.sweep.plots import plot_sweep

        overall["plots"] = plot_sweep(out, plan)
    return overall


def _barrier_group(world: int) -> Any:
    """torch.distributed (gloo) when launched by torchrun with several processes."""
    if world <= 1:
        return None
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    dist.barrier()
    return dist
