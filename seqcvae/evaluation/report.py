"""`seqcvae evaluate`: held-out likelihood and collapse diagnostics, plus sample metrics.

SMILES runs: validity, uniqueness, novelty and property control of samples drawn under held-out
condition vectors, and the MOSES metrics of those samples (seqcvae.chem.moses) against reference
sets (default: the held-out molecules; seqcvae.evaluation.references, which also scores any SMILES
file). Text runs: distinct-1/2 and self-BLEU of samples, style accuracy of samples
(judged by a TF-IDF logistic-regression classifier trained on the labelled training sentences),
and style transfer of held-out sentences to another tag (accuracy and BLEU to the input).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqcvae.data.dataset import TokenDataset
from seqcvae.data.prepare import PreparedData, prepare_table
from seqcvae.data.splits import RunData, prepare_run_data, resolve_data_path
from seqcvae.errors import ConfigError
from seqcvae.evaluation.diagnostics import evaluate_model
from seqcvae.evaluation.references import moses_metrics
from seqcvae.generation.generator import Generator


def run_splits(gen: Generator, workers: int = 1, log: Callable[[str], None] | None = None) -> RunData:
    """The run's own data, split as it was trained, under the checkpoint's tokenizer and
    conditions (none fitted anew); `log` as prepare_run_data."""
    return prepare_run_data(gen.config, gen.tokenizer.to_dict(), gen.conditions.to_dict(), workers, log)


def held_out(
    gen: Generator,
    data: str | None,
    workers: int = 1,
    log: Callable[[str], None] | None = None,
) -> tuple[TokenDataset, PreparedData]:
    """The held-out sequences a run is evaluated on: `data` (a file) or the run's validation
    split, as a dataset and as the prepared table (sequences, property and tag columns). The
    split needs the run's whole data file checked once (then it is cached); `log` hears of that
    before it starts, since for a large file it takes a long while."""
    cfg = gen.config
    if data:
        part = prepare_table(resolve_data_path(data), cfg.data)
    else:
        part = run_splits(gen, workers, log).val_data
    enc = gen.conditions.encode_columns(part.columns, part.tag_columns, len(part))
    ds, _ = TokenDataset.build(part.sequences, gen.tokenizer, enc, cfg.data.max_length, "truncate")
    return ds, part


def held_out_requests(part: PreparedData, n: int, seed: int) -> list[dict[str, Any]]:
    """n generation requests, each the conditions (properties and tags) of a held-out row drawn
    at random (with replacement when there are fewer than n rows)."""
    idx = np.random.default_rng(seed).choice(len(part), size=n, replace=len(part) < n)
    out = []
    for i in idx:
        r: dict[str, Any] = {k: float(v[i]) for k, v in part.columns.items()}
        r.update({k: v[i] for k, v in part.tag_columns.items()})
        out.append(r)
    return out


def transfer_rows(
    gen: Generator,
    field: str,
    texts: Sequence[str],
    sources: Sequence[str],
    targets: Sequence[str],
    **sampling: Any,
) -> list[str]:
    """Text i encoded under tag `field` = sources[i] and decoded under targets[i] (one
    Generator.transfer call per target value), in input order."""
    out = [""] * len(texts)
    for value in sorted(set(targets)):
        rows = [i for i, t in enumerate(targets) if t == value]
        own = [{field: sources[i]} for i in rows]
        recs = gen.transfer([texts[i] for i in rows], {field: value}, own, **sampling)
        for i, r in zip(rows, recs):
            out[i] = r.sequence
    return out


def _text_metrics(gen: Generator, part: PreparedData, n: int, seed: int, bar: Any) -> dict[str, Any]:
    from seqcvae.evaluation.style import train_style_classifier
    from seqcvae.text.metrics import distinct_n, self_bleu

    bar.set_description("evaluate: style classifier")
    clf = train_style_classifier(gen)
    out: dict[str, Any] = {"classifier_accuracy_on_held_out": clf.accuracy(part.sequences, part.tag_columns)}
    requests = held_out_requests(part, n, seed)
    bar.set_description("evaluate: sampling")
    texts = [r.sequence for r in gen.generate(requests, seed=seed, on_batch=bar.update)]
    bar.set_description("evaluate: text metrics and transfer")
    tags = {t: [r[t] for r in requests] for t in part.tag_columns}
    out.update(
        {
            "samples": len(texts),
            "distinct_1": distinct_n(texts, 1),
            "distinct_2": distinct_n(texts, 2),
            "self_bleu": self_bleu(texts, seed=seed),
            "style_accuracy": clf.accuracy(texts, tags),
        }
    )
    if part.tag_columns:
        # Transfer the first tag field to the next value (pos -> neu -> neg -> pos ...).
        field = next(iter(part.tag_columns))
        values = next(c for c in gen.conditions.categorical if c.name == field).values[1:]
        m = min(n, len(part))
        src = part.sequences[:m]
        targets = [values[(values.index(v) + 1) % len(values)] for v in part.tag_columns[field][:m]]
        transferred = transfer_rows(gen, field, src, part.tag_columns[field][:m], targets, seed=seed)
        import sacrebleu

        out["transfer"] = {
            "field": field,
            "sentences": m,
            "accuracy": clf.accuracy(transferred, {field: targets}).get(field, float("nan")),
            "bleu_to_input": sacrebleu.corpus_bleu(transferred, [src]).score,
            "unchanged_fraction": float(np.mean([a == b for a, b in zip(transferred, src)])),
        }
    return out


PROTOCOLS = ("conditional", "moses")
MOSES_SAMPLES = 30_000  # the number of samples the MOSES paper scores
CONDITIONAL_SAMPLES = 1000
# The MOSES paper's sampling: every condition unspecified, plain sampling at temperature 1 (and no
# guidance, which would only double the work: with no condition given, cond and uncond agree).
MOSES_SAMPLING: dict[str, Any] = {
    "strategy": "sample",
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "guidance": 1.0,
    "grammar": False,
    "latent_temperature": 1.0,
}
SAMPLING_KEYS = (
    "strategy",
    "temperature",
    "top_k",
    "top_p",
    "guidance",
    "grammar",
    "beam_size",
    "latent_temperature",
)


def _smiles_metrics(
    gen: Generator,
    part: PreparedData,
    n: int,
    seed: int,
    references: dict[str, str],
    workers: int,
    fcd: bool,
    protocol: str,
    bar: Any,
) -> dict[str, Any]:
    """Samples and their metrics under `protocol` (`bar`: the evaluation's progress bar):
    "conditional" draws each sample under the conditions of a held-out molecule with the run's
    sampling settings (MOSES metrics against `references`, default the held-out molecules);
    "moses" samples unconditionally at T=1 as the MOSES paper does, against `references` (the
    MOSES test and scaffold-test splits)."""
    from seqcvae.evaluation.summary import summarise

    if protocol == "moses":
        if "Test" not in references:
            raise ConfigError(
                "--protocol moses needs the MOSES test split: give --test FILE "
                "(scripts/prepare_moses_full.py writes it to data/moses_full/)"
            )
        sampling = dict(MOSES_SAMPLING)
        bar.set_description("evaluate: sampling")
        records = gen.generate(None, n=n, seed=seed, workers=workers, on_batch=bar.update, **sampling)
    else:
        s = gen.default_settings()
        sampling = {k: getattr(s, k) for k in SAMPLING_KEYS}
        bar.set_description("evaluate: sampling")
        records = gen.generate(
            held_out_requests(part, n, seed), seed=seed, workers=workers, on_batch=bar.update
        )
    bar.set_description("evaluate: MOSES metrics (reference statistics are cached after the first run)")
    out = summarise(gen, records)
    train = gen.reference_set()
    refs: dict[str, str | list[str]] = dict(references) or {"Test": list(part.sequences)}
    described = {k: v if isinstance(v, str) else f"{len(v)} held-out molecules" for k, v in refs.items()}
    out["protocol"] = {
        "name": protocol,
        "conditions": "unspecified (unconditional)" if protocol == "moses" else "of held-out molecules",
        **{k: v for k, v in sampling.items() if k != "beam_size" or sampling["strategy"] == "beam"},
        "n": n,
        "test": described.get("Test"),
        "test_scaffolds": described.get("TestSF"),
        "references": described,
        "novelty_against": f"{len(train)} molecules of the run's training data"
        if train is not None
        else None,
    }
    out["moses"] = moses_metrics([r.sequence for r in records], refs, train, workers, fcd)
    return out


def evaluate_run(
    checkpoint: str | Path,
    which: str = "best",
    data: str | None = None,
    k: int = 50,
    n_samples: int = 1000,
    max_sequences: int = 2000,
    seed: int = 0,
    references: dict[str, str] | None = None,
    workers: int = 1,
    fcd: bool = True,
    device: str = "cpu",
    protocol: str = "conditional",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Diagnostics on held-out data and metrics of n samples. SMILES runs also get the MOSES
    metrics against `references` (name -> SMILES file) with the run's training molecules for
    novelty, of samples drawn under `protocol` (see _smiles_metrics): "conditional" (default
    references: the held-out molecules) or "moses" (references: the MOSES test splits).
    `progress`: a bar on stderr naming the stage, counting samples (off when not a terminal);
    `log`: told when the run's data must be checked to find its validation split."""
    from tqdm import tqdm

    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    t0 = time.perf_counter()
    gen = Generator.load(checkpoint, which=which, device=device)
    if protocol == "moses" and gen.kind != "smiles":
        raise ConfigError("--protocol moses is for SMILES runs (it samples molecules for the MOSES metrics)")
    ds, part = held_out(gen, data, workers=workers, log=log)
    report: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "kind": gen.kind,
        "held_out": data or "validation split",
    }
    m = len(part) if max_sequences <= 0 else min(max_sequences, len(part))
    words = sum(len(s.split()) for s in part.sequences[:m]) if gen.kind == "text" else 0
    disable = None if progress else True  # None: off when stderr is not a terminal
    with tqdm(total=n_samples, unit="sample", disable=disable, dynamic_ncols=True, leave=False) as bar:
        bar.set_description(f"evaluate: diagnostics on {m} held-out sequences")
        report["diagnostics"] = evaluate_model(
            gen.model, ds, k=k, max_sequences=max_sequences, seed=seed, words=words
        )
        if n_samples > 0 and gen.kind == "text":
            report["samples"] = _text_metrics(gen, part, n_samples, seed, bar)
        elif n_samples > 0:
            report["samples"] = _smiles_metrics(
                gen, part, n_samples, seed, references or {}, workers, fcd, protocol, bar
            )
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report
