"""The tune recipe: property-consistency tuning of a trained SMILES model into a new run directory
(config.json, metrics.csv, checkpoints/last, optional checkpoints/step-N snapshots)."""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from seqcvae.chem.properties import analyse_many
from seqcvae.data.conditions import ConditionSpace, EncodedConditions
from seqcvae.data.dataset import TokenDataset
from seqcvae.data.tables import read_sequences
from seqcvae.errors import ConfigError, DataError
from seqcvae.generation.generator import Generator
from seqcvae.io.atomic import atomic_write_text
from seqcvae.io.cache import file_sha256
from seqcvae.models.checkpoint import CheckpointData, checkpoint_label, load_checkpoint, save_checkpoint
from seqcvae.tokenizers.base import UNK
from seqcvae.training.rundir import prepare_run_dir
from seqcvae.tuning.consistency import ConsistencyTuner, StepStats, check_tunable
from seqcvae.tuning.settings import TuneSettings

# Checkpoint metadata of the source's own training (its validation figures, epoch, schedule),
# which do not describe the tuned model.
SOURCE_ONLY = ("metrics", "epoch", "batch_in_epoch", "best_val_nelbo", "schedule", "elapsed_s")


def read_targets(
    path: str, names: list[str], limit: int, workers: int = 1, column: str | None = None
) -> tuple[list[str], np.ndarray]:
    """(canonical SMILES, RDKit-measured `names` (N, P)) of the first `limit` valid molecules of
    a SMILES file."""
    smiles = [s for s in read_sequences(path, column) if s.strip()][: max(limit, 1) * 2]
    found = [
        (can, [p[n] for n in names]) for can, p in analyse_many(smiles, names, workers) if can is not None
    ]
    if not found:
        raise DataError(f"--targets {path!r}: no valid SMILES to draw targets from")
    found = found[:limit]
    return [c for c, _ in found], np.array([v for _, v in found], dtype=np.float64)


def anchor_dataset(gen: Generator, smiles: list[str], values: np.ndarray, max_length: int) -> TokenDataset:
    """The target molecules the model can read (no token outside its vocabulary, at most
    max_length tokens), with their standardised properties: the likelihood anchor's data."""
    names = [c.name for c in gen.conditions.continuous]
    ids = [gen.tokenizer.encode(s) for s in smiles]
    keep = [i for i, t in enumerate(ids) if UNK not in t and 0 < len(t) <= max_length]
    columns = {n: values[keep, j] for j, n in enumerate(names)}
    e = ConditionSpace(gen.conditions.continuous, []).encode_columns(columns, {}, len(keep))
    tags = np.zeros((len(keep), len(gen.conditions.categorical)), dtype=np.int64)  # every tag "any"
    encoded = EncodedConditions(e.values, e.present, tags)
    return TokenDataset.from_ids([ids[i] for i in keep], encoded)


def _window_row(window: list[StepStats]) -> dict[str, float]:
    rows = [s.as_row() for s in window]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    out = {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
    out["step"], out["elapsed_s"] = rows[-1]["step"], rows[-1]["elapsed_s"]
    return out


def tune(
    checkpoint: str,
    out_dir: str | Path,
    targets_path: str,
    settings: TuneSettings,
    *,
    which: str = "best",
    device: str = "cpu",
    target_rows: int = 20000,
    column: str | None = None,
    save_every: int = 250,
    snapshots: bool = False,
    overwrite: bool = False,
    workers: int = 1,
    log: Callable[[str], None] = print,
) -> Path:
    """Tune `checkpoint` (see seqcvae.tuning.consistency) and write the tuned model to out_dir;
    returns out_dir. Targets are the RDKit-measured properties of up to `target_rows` molecules of
    `targets_path` (real molecules, so joint targets are ones that exist)."""
    settings.validate()
    out = Path(out_dir)
    # Everything is read and checked before --overwrite may remove anything.
    source = load_checkpoint(checkpoint, which=which)
    if out.resolve() in (source.path.resolve(), *source.path.resolve().parents[:2]):
        raise ConfigError(f"--out {str(out)!r} holds the checkpoint being tuned; give a new directory")
    gen = Generator.load(checkpoint, which=which, device=device, precision="fp32")
    check_tunable(gen.conditions, gen.kind)
    names = [c.name for c in gen.conditions.continuous]
    smiles, targets = read_targets(targets_path, names, target_rows, workers, column)
    anchor = anchor_dataset(gen, smiles, targets, settings.max_length) if settings.anchor_weight > 0 else None
    tuner = ConsistencyTuner(gen.model, gen.tokenizer, gen.conditions, targets, settings, anchor)
    prepare_run_dir(out, overwrite, hint="another --out")
    log(f"tuning {checkpoint_label(source.path)} on targets of {len(targets)} molecules of {targets_path}")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", json.dumps(source.config, indent=2, sort_keys=True))
    origin = {
        "checkpoint": checkpoint_label(source.path),
        "step": source.meta.get("step"),
        "weights_sha256": file_sha256(source.path / "model.safetensors"),
    }
    if source.meta.get("init_from"):  # a chain of fine-tunes keeps where it began
        origin["from"] = source.meta["init_from"]
    # what describes the source's training, not this model, is left out
    kept = {k: v for k, v in source.meta.items() if k not in SOURCE_ONLY}
    window: list[StepStats] = []
    started = time.monotonic()

    def save(stats: dict[str, float], name: str) -> None:
        meta = {
            **kept,
            "step": tuner.step_count,
            "init_from": origin,
            "tuning": {
                **dataclasses.asdict(settings),
                "targets": str(Path(targets_path).resolve()),
                "target_rows": len(targets),
                "metrics": {k: v for k, v in stats.items() if k != "step"},
            },
            "elapsed_s": time.monotonic() - started,
        }
        weights = {k: v.detach().cpu() for k, v in gen.model.state_dict().items()}
        data = CheckpointData(meta, source.config, weights, source.tokenizer, source.conditions)
        save_checkpoint(out / "checkpoints" / name, data)

    columns = ["step", "reward", "validity", "kl", "unique", *(f"mae_{n}" for n in names)]
    columns += ["anchor_nll"] if anchor is not None else []
    columns += ["peaked"] if settings.peak_nats > 0 else []
    columns += ["elapsed_s"]
    with open(out / "metrics.csv", "w", newline="", encoding="utf-8") as fh:
        writer: csv.DictWriter | None = None

        def flush_window() -> dict[str, float]:
            """The window's mean row, written to metrics.csv (the header first); the window empties."""
            nonlocal writer
            row = _window_row(window)
            window.clear()
            if writer is None:
                writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", restval="")
                writer.writeheader()
            writer.writerow({k: f"{v:.6g}" for k, v in row.items()})
            fh.flush()
            return row

        def on_step(stats: StepStats) -> None:
            window.append(stats)
            last = tuner.step_count >= settings.steps or (
                settings.max_minutes and stats.elapsed_s >= 60 * settings.max_minutes
            )
            if len(window) < 25 and tuner.step_count % save_every and not last:
                return
            row = flush_window()
            errs = "  ".join(f"{k[4:]} {v:.3g}" for k, v in row.items() if k.startswith("mae_"))
            log(
                f"step {tuner.step_count}  reward {row['reward']:.3f}  valid {row['validity']:.3f}  "
                f"unique {row['unique']:.3f}  KL {row['kl']:.2f}  |err| {errs}  "
                + (f"anchor NLL {row['anchor_nll']:.2f}  " if "anchor_nll" in row else "")
                + (f"peaked {row['peaked']:.3f}  " if settings.peak_nats > 0 else "")
                + f"{row['elapsed_s']:.0f}s"
            )
            if tuner.step_count % save_every == 0 or last:
                save(row, "last")
                if snapshots:
                    save(row, f"step-{tuner.step_count}")

        try:
            tuner.run(on_step)
        except KeyboardInterrupt:
            if window:  # steps since the last checkpoint: keep them
                save(flush_window(), "last")
                log(f"interrupted at step {tuner.step_count}: saved checkpoints/last")
            elif tuner.step_count:
                log(f"interrupted at step {tuner.step_count}: checkpoints/last holds it")
            raise
    return out
