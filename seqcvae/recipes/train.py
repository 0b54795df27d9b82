"""The train recipe: the run directory checks (--overwrite replaces only a run), the resume config
and what may change on resume, run data, the data cache across processes, the run directory
(config.json, reference SMILES), the trainer with its injected validation, log lines."""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch

from seqcvae.config import RunConfig
from seqcvae.data.dataset import TokenDataset
from seqcvae.data.splits import RunData, prepare_run_data
from seqcvae.devices import pick_device
from seqcvae.errors import DataError, SeqCVAEError
from seqcvae.evaluation.diagnostics import evaluate_model
from seqcvae.io.atomic import atomic_open, atomic_write_text
from seqcvae.models.checkpoint import CheckpointData, checkpoint_label, load_checkpoint
from seqcvae.models.cvae import CVAE, CVAEShape
from seqcvae.models.output import check_cutoffs
from seqcvae.tokenizers.base import Tokenizer
from seqcvae.training import distributed
from seqcvae.training.build import with_adversary
from seqcvae.training.trainer import Trainer, Translator, Validator

# What --resume may change (_train keeps the rest as saved): the budget, the device, and weight
# averaging (it does not change the trained weights' course; begun on resume, the average starts
# at the run's weights).
RESUME_KEYS = ("train.epochs", "train.max_steps", "train.max_minutes", "train.device", "train.ema_decay")


def config_for_resume(run_dir: str | Path) -> RunConfig:
    """The saved config of a run, from its last checkpoint."""
    return RunConfig.from_stored(load_checkpoint(run_dir, which="last").config)


def resume_config(run_dir: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """The config to continue a run with: its saved one, with `overrides` (KEY=VALUE) of the
    budget and device only (RESUME_KEYS); any other override fails before the run is read."""
    bad = [o for o in overrides if o.split("=", 1)[0].strip() not in RESUME_KEYS]
    if bad:
        raise SeqCVAEError(
            f"with --resume only the budget, device and averaging can change ({', '.join(RESUME_KEYS)}); "
            f"not {bad[0]!r}"
        )
    return config_for_resume(run_dir).with_overrides(list(overrides))


def start_shape(
    start: CheckpointData, cfg: RunConfig, fine_tune: bool, num_continuous: int | None = None
) -> CVAEShape:
    """The model shape of a run that starts from a checkpoint: the checkpoint's own (resume), or,
    fine-tuning, the same with a tag adversary added or dropped as this run's
    train.adversary_weight asks (the adversary is a training aid: the model works without it) and
    `num_continuous` properties (the source's and the ones this run adds)."""
    shape = CVAEShape(**start.meta["model_shape"])
    if not fine_tune:
        return shape
    if num_continuous is not None:
        shape.num_continuous = num_continuous
    return with_adversary(shape, cfg.train)


# What a run started --init-from a trained model keeps from it: the architecture (its weights fit
# no other), the kind of data and the conditions it was trained on (their weights and scaling).
# data.properties may add properties (they start with zero weights and their own scaling).
INIT_KEPT = ("data.kind", "data.tags")
# The model fields a run --init-from may change: regularisers, which shape no weight.
REGULARISERS = ("dropout", "weight_drop", "locked_dropout")


def init_config(
    source: str | Path, config: str | None = None, overrides: Sequence[str] = ()
) -> tuple[RunConfig, CheckpointData]:
    """The config of a run that starts from the trained model at `source` (a run or checkpoint
    directory) and that model's checkpoint: `config` (a TOML file or built-in name; default the
    model's own saved config) with `overrides`, keeping the model's architecture, data kind and
    conditions (INIT_KEPT). The optimizer, step count and schedules start afresh."""
    from seqcvae.config import load_config

    ckpt = load_checkpoint(source, which="best")
    saved = RunConfig.from_stored(ckpt.config)
    cfg = load_config(config, list(overrides)) if config else saved.with_overrides(list(overrides))
    given = cfg.to_dict()
    kept = saved.to_dict()
    for key, value in sorted(given["model"].items()):
        if key not in REGULARISERS and value != kept["model"][key]:
            raise SeqCVAEError(
                f"--init-from keeps the model's architecture: model.{key} is {kept['model'][key]!r} "
                f"in {str(ckpt.path)!r}, not {value!r}"
            )
    for dotted in INIT_KEPT:
        section, name = dotted.split(".")
        if given[section][name] != kept[section][name]:
            raise SeqCVAEError(
                f"--init-from keeps the model's conditions and data kind: {dotted} is "
                f"{kept[section][name]!r} in {str(ckpt.path)!r}, not {given[section][name]!r}"
            )
    dropped = [p for p in kept["data"]["properties"] if p not in given["data"]["properties"]]
    if dropped:
        raise SeqCVAEError(
            f"--init-from keeps the model's conditions: data.properties must include "
            f"{', '.join(dropped)} (the model in {checkpoint_label(ckpt.path)!r} was trained on "
            f"{kept['data']['properties']!r}); it may add new ones"
        )
    if not config and not any(o.split("=", 1)[0].strip() == "output_dir" for o in overrides):
        src = ckpt.path.parent.parent if ckpt.path.parent.name == "checkpoints" else ckpt.path
        cfg = dataclasses.replace(cfg, output_dir=str(Path(saved.output_dir).parent / f"{src.name}-tuned"))
    return cfg, ckpt


def check_vocabulary(prepared: RunData, source: Path, unknown: str = "refuse") -> RunData:
    """A run started from a trained SMILES model cannot learn new tokens: training or validation
    rows with tokens outside its vocabulary are refused (`unknown` "refuse", naming the tokens and
    the rows they affect) or dropped ("drop"; counted in the data summary)."""
    from collections import Counter

    from seqcvae.tokenizers.base import UNK

    if prepared.kind != "smiles":
        return prepared
    known = set(prepared.tokenizer.to_dict()["tokens"])
    parts = [(prepared.train, prepared.stores[0]), (prepared.val, prepared.stores[-1])]
    bad = [ds.rows_containing(UNK) for ds, _ in parts]
    rows = sum(len(b) for b in bad)
    if not rows:
        return prepared
    if unknown == "drop":
        train, val = (ds.without(b) for (ds, _), b in zip(parts, bad))
        if not len(train) or not len(val):
            raise DataError(
                "every training or validation row has tokens outside the vocabulary of "
                f"{checkpoint_label(source)!r}"
            )
        note = f"; {rows} row{'s' if rows != 1 else ''} with tokens outside the model's vocabulary dropped"
        return dataclasses.replace(prepared, train=train, val=val, data_summary=prepared.data_summary + note)
    counts: Counter[str] = Counter()
    for (_, store), b in zip(parts, bad):
        if len(b):
            for smi in store.iter_sequences(b):
                counts.update({t for t in prepared.tokenizer.tokens(smi) if t not in known})
    named = ", ".join(f"{tok!r} ({n} row{'s' if n != 1 else ''})" for tok, n in counts.most_common(8))
    more = f" and {len(counts) - 8} more" if len(counts) > 8 else ""
    raise DataError(
        f"{rows} row{'s have' if rows != 1 else ' has'} tokens outside the vocabulary of "
        f"{checkpoint_label(source)!r}: {named}{more}; remove those rows, set "
        "data.unknown_tokens=drop, or train a new model on this data instead of --init-from"
    )


def diagnostics_validator(cfg: RunConfig, tokenizer: Tokenizer | None = None) -> Validator:
    """Validation diagnostics on the first val_max_sequences in file order (batches are
    length-sorted only within them, so the subset is not biased towards short sequences):
    negative ELBO (one posterior sample, fixed seed), IW-NLL with val_iw_samples, KL, active units,
    mutual information and greedy reconstruction accuracy; with train.val_samples > 0 and a SMILES
    `tokenizer`, also the RDKit validity of that many prior samples at T = 1 (fixed seed)."""
    t = cfg.train

    def validate(model: CVAE, ds: TokenDataset) -> dict[str, float]:
        out = evaluate_model(
            model, ds, k=t.val_iw_samples, batch_size=512, max_sequences=t.val_max_sequences, seed=12345
        )
        if t.val_samples > 0 and tokenizer is not None and cfg.data.kind == "smiles":
            out["validity"] = prior_validity(model, tokenizer, t.val_samples, cfg.data.max_length)
        return out

    return validate


def greedy_translator(max_length: int) -> Translator:
    """Greedy decoding of z under c, up to `max_length` tokens: the trainer's back-translation
    (train.cycle_weight)."""

    def translate(model: CVAE, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        from seqcvae.config import SamplingSettings
        from seqcvae.generation.sampling import decode_tokens

        return decode_tokens(model, z, c, SamplingSettings(strategy="greedy", max_length=max_length))

    return translate


def prior_validity(model: CVAE, tokenizer: Tokenizer, n: int, max_length: int) -> float:
    """RDKit validity of n SMILES decoded from z ~ N(0, I) with no condition, T = 1, no nucleus."""
    import torch

    from seqcvae.chem.mol import canonicalize
    from seqcvae.config import SamplingSettings
    from seqcvae.generation.sampling import decode_tokens
    from seqcvae.tokenizers.base import content_ids

    gen = torch.Generator().manual_seed(12345)
    device = next(model.parameters()).device
    z = torch.randn(n, model.shape.latent_dim, generator=gen).to(device)
    c = model.unspecified_conditions(n)
    settings = SamplingSettings(strategy="sample", temperature=1.0, top_p=1.0, max_length=max_length)
    with torch.no_grad():
        ids = decode_tokens(model, z, c, settings, seed=12345)
    smiles = [tokenizer.decode(content_ids(row.tolist())) for row in ids.cpu()]
    model.train()
    return sum(canonicalize(s) is not None for s in smiles) / n


def write_reference(run_dir: Path, canonical: Iterable[str]) -> None:
    """Sorted distinct canonical training SMILES, for novelty at generation time (the run needs no
    data file), and next to them reference_smiles.json: the RDKit version whose canonical form they
    are in (another RDKit may write some molecules differently) and their number."""
    import json

    from seqcvae.chem.properties import rdkit_version

    path = run_dir / "reference_smiles.txt.gz"
    n = 0
    with atomic_open(path, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as fh:
        for smi in canonical:
            fh.write(smi + "\n")
            n += 1
    record = {"rdkit": rdkit_version(), "molecules": n}
    atomic_write_text(run_dir / "reference_smiles.json", json.dumps(record, indent=2))


def train(
    cfg: RunConfig,
    run_dir: Path | None = None,
    resume: bool = False,
    log: Callable[[str], None] = print,
    progress: bool = True,
    init_from: CheckpointData | None = None,
) -> Path:
    """Train (or resume) a run; returns the run directory. `init_from` (init_config's checkpoint):
    a new run that starts from that model's weights, tokenizer and conditions.

    Launched by torchrun (WORLD_SIZE > 1), every process trains on its share of each batch and
    the process of rank 0 alone logs, validates and writes the run directory.
    """
    info = distributed.env_info()
    if info.enabled:
        distributed.init(pick_device(distributed.device_for(cfg.train.device, info)))
        if not info.is_main:
            log, progress = (lambda _msg: None), False
    try:
        return _train(cfg, run_dir, resume, log, progress, info, init_from)
    finally:
        distributed.shutdown()


def _train(
    cfg: RunConfig,
    run_dir: Path | None,
    resume: bool,
    log: Callable[[str], None],
    progress: bool,
    info: distributed.DistInfo,
    init_from: CheckpointData | None = None,
) -> Path:
    import json

    run_dir = Path(run_dir or cfg.output_dir)
    ckpt = None
    if resume and init_from is not None:
        raise SeqCVAEError("--resume continues a run; --init-from starts a new one: give one of them")
    if resume:
        ckpt = load_checkpoint(run_dir, which="last", with_train_state=True)
        saved = RunConfig.from_stored(ckpt.config)
        # Only RESUME_KEYS may differ from the saved run (the CLI enforces this).
        for key in RESUME_KEYS:
            name = key.removeprefix("train.")
            setattr(saved.train, name, getattr(cfg.train, name))
        cfg = saved
    # config.json and the checkpoints record where the run really is (--out, or a moved run).
    cfg = dataclasses.replace(cfg, output_dir=str(run_dir))
    if not info.is_main:  # the main process builds the data cache; the others then read it
        distributed.barrier()
    start = ckpt or init_from  # the tokenizer, conditions and model shape come from here
    prepared = prepare_run_data(
        cfg, start.tokenizer if start else None, start.conditions if start else None, workers=2, log=log
    )
    if info.is_main:
        distributed.barrier()
    # a fine-tune's rows are checked against its source's vocabulary (again when it is resumed)
    if start is not None and (init_from is not None or cfg.data.unknown_tokens == "drop"):
        prepared = check_vocabulary(prepared, start.path, cfg.data.unknown_tokens)
    if init_from is not None:
        added = [c.name for c in prepared.conditions.continuous][len(init_from.conditions["continuous"]) :]
        if added:
            log(f"conditions: {', '.join(added)} added (zero weights at the start, scaled on this data)")
    log(
        f"data: {prepared.data_summary}; train {len(prepared.train)}, "
        f"validation {len(prepared.val)}; vocabulary {prepared.tokenizer.vocab_size} tokens"
    )
    # the one model setting that needs the vocabulary, checked before anything is written
    check_cutoffs(cfg.model.output_cutoffs, prepared.tokenizer.vocab_size)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.json", cfg.to_json())
        if prepared.kind == "smiles" and not resume:
            write_reference(run_dir, prepared.reference_smiles())
    trainer = Trainer(
        cfg,
        run_dir,
        prepared,
        validate=diagnostics_validator(cfg, prepared.tokenizer),
        translate=greedy_translator(cfg.data.max_length) if cfg.train.cycle_weight > 0 else None,
        log=log,
        progress=progress,
        dist_info=info,
        shape=start_shape(start, cfg, ckpt is None, prepared.conditions.num_continuous) if start else None,
    )
    if init_from is not None:
        trainer.initialise(init_from)
        log(
            f"initialised from {init_from.path} (its step {init_from.meta.get('step')}); "
            "the optimizer and schedules start afresh"
        )
    if ckpt is not None:
        trainer.restore(ckpt)
        log(f"resumed from {ckpt.path} at step {trainer.step} (epoch {trainer.epoch})")
    n_params = sum(p.numel() for p in trainer.model.parameters())
    m = cfg.model
    cells = " and ".join(dict.fromkeys(c.upper() for c in (m.encoder, m.decoder) if c != "transformer"))
    if trainer.autocast:
        products = "bf16 autocast"
    elif cells:  # a GRU or LSTM encoder or decoder
        products = f"{trainer.precision_label} {cells} products"
        if "transformer" in (m.encoder, m.decoder):
            products += ", fp32 Transformer layers"
    else:
        products = "fp32 Transformer layers"
    where = f"{info.world_size} processes ({trainer.device.type})" if info.enabled else str(trainer.device)
    log(f"model: {n_params / 1e6:.2f}M parameters on {where}, {products}")
    result = trainer.fit()
    if info.is_main:
        atomic_write_text(run_dir / "train_summary.json", json.dumps(result, indent=2))
    log(
        f"done: step {result['step']}, best validation -ELBO {result['best_val_nelbo']:.3f}; "
        f"run directory {run_dir}"
    )
    return run_dir
