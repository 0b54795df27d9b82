"""Typed run configuration: dataclass defaults < TOML file < dotted CLI overrides.

Defaults live only in these dataclasses. Unknown keys and wrong types are errors that name the bad
key and the valid ones. The resolved config is written next to every run and into every checkpoint,
with its `config_version`. A config of an earlier version is brought up to date by `migrate`, the
one place that knows how keys were added, renamed or removed: stored configs (config.json of a run
or checkpoint) without a version are version 1 (seqcvae before versioning); TOML files and dicts
without one are read as the current version.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from seqcvae import _toml as tomllib
from seqcvae.errors import ConfigError

# Bump with every change of keys or of their meaning, and add the step from the previous version
# to MIGRATIONS.
CONFIG_VERSION = 2


@dataclass
class DataConfig:
    """Where the training sequences and their conditions come from."""

    kind: str = "smiles"  # "smiles" (RDKit-checked, regex tokens) or "text" (SentencePiece)
    train_path: str = "data/moses_sample/train.csv.gz"
    val_path: str = ""  # empty: hold out val_fraction of the training file
    val_fraction: float = 0.05
    split_seed: int = 0  # which rows are held out (independent of train.seed)
    sequence_column: str = "SMILES"
    # Continuous conditions: column names (for SMILES, missing columns are computed with RDKit).
    properties: list[str] = field(default_factory=lambda: ["LogP", "MolWt", "QED", "TPSA"])
    tags: list[str] = field(default_factory=list)  # categorical condition columns
    max_length: int = 100  # tokens, excluding <bos>/<eos>
    too_long: str = "drop"  # "drop" or "truncate" sequences longer than max_length
    max_skip_fraction: float = 0.2  # fail if more rows than this are invalid/empty/missing
    limit: int = 0  # use a fixed random subset of N rows (0 = all); for quick experiments and tests
    vocab_size: int = 4000  # text: SentencePiece vocabulary size (a soft limit on small corpora)
    sp_model_type: str = "unigram"  # text: "unigram" or "bpe"
    # Checked, measured and tokenised rows are cached here as memory-mapped Arrow files
    # ("" = $XDG_CACHE_HOME/seqcvae/datasets, default ~/.cache/seqcvae/datasets).
    cache_dir: str = ""


@dataclass
class ModelConfig:
    """Architecture of the CVAE."""

    embedding_dim: int = 64
    encoder_hidden: int = 128
    encoder_layers: int = 1
    decoder_hidden: int = 512
    decoder_layers: int = 1
    latent_dim: int = 64
    condition_dim: int = 64  # width of the learned condition embedding c
    dropout: float = 0.0
    prior: str = "standard"  # "standard" N(0, I) or "conditional" learned p(z|c)
    encoder: str = "gru"  # "gru" (bidirectional) or "transformer" (pre-LN; width encoder_hidden)
    decoder: str = "gru"  # "gru" or "transformer" (causal, KV cache; width decoder_hidden)
    heads: int = 4  # attention heads (transformer only)
    decoder_condition: str = "prefix"  # transformer decoder: (z, c) as "prefix" tokens or "memory"
    condition_tokens: int = 1  # transformer decoder: number of prefix / memory vectors for (z, c)


@dataclass
class TrainConfig:
    """Optimisation and training policy (annealing, free bits, word dropout)."""

    seed: int = 0
    epochs: int = 50
    # Wall-clock budget of the training steps, 0 = no limit: converted once into a step count (from
    # the first steps' times), which sets the LR schedule and is stored in checkpoints for --resume.
    max_minutes: float = 0.0
    max_steps: int = 0  # 0 = no limit
    batch_size: int = 128
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_steps: int = 200
    lr_schedule: str = "cosine"  # "cosine" (over the run's step count) or "constant"
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    kl_schedule: str = "linear"  # constant | linear | logistic | cyclical
    kl_max: float = 1.0
    kl_warmup_steps: int = 1000  # linear ramp length; logistic: reaches ~kl_max here
    kl_cycle_steps: int = 2000  # period for the cyclical schedule
    kl_cycle_ratio: float = 0.5  # fraction of each cycle spent ramping
    free_bits: float = 0.0  # nats per latent dimension (batch-averaged), 0 = off
    word_dropout: float = 0.0  # probability of replacing a decoder input by <unk>
    condition_dropout: float = 0.3  # probability of hiding each condition (teaches "unspecified")
    val_every_steps: int = 0  # N > 0: also validate (and checkpoint) every N steps; always at epoch end
    val_max_sequences: int = 2000
    val_iw_samples: int = 5  # importance samples for the validation IW-NLL logged each epoch
    log_every_steps: int = 50
    threads: int = 0  # torch intra-op threads, 0 = torch default
    precision: str = "auto"  # GRU matrix products: auto | fp32 | bf16 (auto: bf16 where it is faster)
    device: str = "auto"  # auto | cpu | cuda


@dataclass
class SampleConfig:
    """Default sampling settings for generation."""

    strategy: str = "sample"  # "greedy", "sample" or "beam"
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 0.95
    batch_size: int = 1000
    max_length: int = 100
    beam_size: int = 5  # for strategy = "beam"
    seed: int = 0


@dataclass
class RunConfig:
    """Everything a run needs; `output_dir` is where the run directory is written."""

    config_version: int = CONFIG_VERSION
    name: str = "smiles_default"
    output_dir: str = "runs/smiles_default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """A config from a dict of the current version (or of an earlier one naming its version)."""
        cfg: RunConfig = _build(cls, migrate(data, CONFIG_VERSION), "")
        check_ranges(cfg)
        return cfg

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> RunConfig:
        """A config stored by a run or checkpoint: without `config_version` it is version 1."""
        return cls.from_dict(migrate(data, 1))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def with_overrides(self, overrides: list[str]) -> RunConfig:
        """Return a copy with `section.key=value` overrides applied (values parsed as TOML)."""
        data = self.to_dict()
        for item in overrides:
            key, value = parse_override(item)
            _set_dotted(data, key, value)
        return RunConfig.from_dict(data)


CHOICES: dict[str, tuple[str, ...]] = {
    "data.kind": ("smiles", "text"),
    "data.sp_model_type": ("unigram", "bpe"),
    "data.too_long": ("drop", "truncate"),
    "model.prior": ("standard", "conditional"),
    "model.encoder": ("gru", "transformer"),
    "model.decoder": ("gru", "transformer"),
    "model.decoder_condition": ("prefix", "memory"),
    "train.lr_schedule": ("cosine", "constant"),
    "train.kl_schedule": ("constant", "linear", "logistic", "cyclical"),
    "train.device": ("auto", "cpu", "cuda"),
    "train.precision": ("auto", "fp32", "bf16"),
    "sample.strategy": ("greedy", "sample", "beam"),
}


# (lowest allowed, lowest is inclusive, highest allowed or None, highest inclusive)
RANGES: dict[str, tuple[float, bool, float | None, bool]] = {
    "data.val_fraction": (0.0, True, 1.0, False),
    "data.split_seed": (0, True, None, True),
    "data.max_length": (1, True, None, True),
    "data.max_skip_fraction": (0.0, True, 1.0, True),
    "data.limit": (0, True, None, True),
    "data.vocab_size": (8, True, None, True),
    "model.embedding_dim": (1, True, None, True),
    "model.encoder_hidden": (1, True, None, True),
    "model.encoder_layers": (1, True, None, True),
    "model.decoder_hidden": (1, True, None, True),
    "model.decoder_layers": (1, True, None, True),
    "model.latent_dim": (1, True, None, True),
    "model.condition_dim": (1, True, None, True),
    "model.dropout": (0.0, True, 1.0, False),
    "model.heads": (1, True, None, True),
    "model.condition_tokens": (1, True, None, True),
    "train.epochs": (1, True, None, True),
    "train.max_minutes": (0.0, True, None, True),
    "train.max_steps": (0, True, None, True),
    "train.batch_size": (1, True, None, True),
    "train.lr": (0.0, False, None, True),
    "train.min_lr": (0.0, True, None, True),
    "train.warmup_steps": (0, True, None, True),
    "train.weight_decay": (0.0, True, None, True),
    "train.grad_clip": (0.0, True, None, True),
    "train.kl_max": (0.0, True, None, True),
    "train.kl_warmup_steps": (0, True, None, True),
    "train.kl_cycle_steps": (1, True, None, True),
    "train.kl_cycle_ratio": (0.0, False, 1.0, True),
    "train.free_bits": (0.0, True, None, True),
    "train.word_dropout": (0.0, True, 1.0, False),
    "train.condition_dropout": (0.0, True, 1.0, True),
    "train.val_every_steps": (0, True, None, True),
    "train.val_max_sequences": (1, True, None, True),
    "train.val_iw_samples": (1, True, None, True),
    "train.log_every_steps": (1, True, None, True),
    "train.threads": (0, True, None, True),
    "sample.temperature": (0.0, False, None, True),
    "sample.top_k": (0, True, None, True),
    "sample.top_p": (0.0, False, 1.0, True),
    "sample.batch_size": (1, True, None, True),
    "sample.max_length": (1, True, None, True),
    "sample.beam_size": (1, True, None, True),
}


def rename_key(data: dict[str, Any], old: str, new: str) -> None:
    """Migration helper: move dotted key `old` to `new` (when present)."""
    *path, name = old.split(".")
    node = _section(data, path)
    if node is not None and name in node:
        value = node.pop(name)
        *new_path, new_name = new.split(".")
        target = data
        for part in new_path:
            target = target.setdefault(part, {})
        target[new_name] = value


def drop_key(data: dict[str, Any], key: str) -> None:
    """Migration helper: remove dotted `key` (when present)."""
    *path, name = key.split(".")
    node = _section(data, path)
    if node is not None:
        node.pop(name, None)


def _section(data: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    node: Any = data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added data.split_seed; version 1 drew the validation split with train.seed."""
    train, section = _section(data, ["train"]) or {}, _section(data, ["data"])
    if section is not None:
        section.setdefault("split_seed", train.get("seed", 0))
    else:
        data["data"] = {"split_seed": train.get("seed", 0)}
    return data


# MIGRATIONS[v] turns a config dict of version v into one of version v + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(data: dict[str, Any], default_version: int) -> dict[str, Any]:
    """A copy of `data` brought to CONFIG_VERSION; `default_version` when it names none."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a table, got {data!r}")
    out = copy.deepcopy(data)
    version = out.pop("config_version", default_version)
    current = CONFIG_VERSION
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(f"config_version = {version!r} is not a version; expected 1 to {current}")
    if version > current:
        raise ConfigError(
            f"config_version {version} is newer than this seqcvae reads (up to {current}); "
            "upgrade seqcvae to use this config"
        )
    for v in range(version, current):
        out = MIGRATIONS[v](out)
    out["config_version"] = current
    return out


def check_ranges(cfg: RunConfig) -> None:
    """Numbers outside their meaningful range are errors naming the key, value and range."""
    for key, (lo, lo_incl, hi, hi_incl) in RANGES.items():
        section, name = key.split(".")
        node = getattr(cfg, section)
        if not hasattr(node, name):
            continue
        v = getattr(node, name)
        ok = (v >= lo if lo_incl else v > lo) and (hi is None or (v <= hi if hi_incl else v < hi))
        if not ok or not math.isfinite(v):
            lo_s = f"{'>=' if lo_incl else '>'} {lo:g}"
            hi_s = "" if hi is None else f" and {'<=' if hi_incl else '<'} {hi:g}"
            raise ConfigError(f"{key} = {v!r} is out of range; expected a number {lo_s}{hi_s}")
    if cfg.model.decoder == "transformer" and cfg.model.decoder_hidden % cfg.model.heads:
        raise ConfigError(
            f"model.decoder_hidden = {cfg.model.decoder_hidden} must be divisible by model.heads = "
            f"{cfg.model.heads} for the transformer decoder"
        )
    if cfg.model.encoder == "transformer" and cfg.model.encoder_hidden % cfg.model.heads:
        raise ConfigError(
            f"model.encoder_hidden = {cfg.model.encoder_hidden} must be divisible by model.heads = "
            f"{cfg.model.heads} for the transformer encoder"
        )


def _check_type(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check_type(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (types.UnionType, typing.Union):
        raise ConfigError(f"{where}: union types are not supported in configs")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if isinstance(value, bool) != (tp is bool) or not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        if where in CHOICES and value not in CHOICES[where]:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(CHOICES[where])}")
        return value
    raise ConfigError(f"{where}: unsupported type {tp}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = prefix or "top level"
        raise ConfigError(
            f"unknown config key {', '.join(prefix + k for k in unknown)!s} in {where}; "
            f"valid keys: {', '.join(sorted(fields))}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        tp = hints[name]
        where = f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, where + ".")  # type: ignore[arg-type]
        else:
            kwargs[name] = _check_type(value, tp, where)
    return cls(**kwargs)


def parse_override(item: str) -> tuple[str, Any]:
    """Parse `a.b=value`; value is TOML (`3`, `1e-3`, `true`, `"x"`, `["a","b"]`) or a bare string."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form section.key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # bare strings such as train.device=cpu
    return key, value


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
            valid = sorted(k for k, v in node.items() if isinstance(v, dict))
            raise ConfigError(
                f"unknown config section {'.'.join(parts[: i + 1])!r} in override {key!r}; "
                f"valid sections: {', '.join(valid)}"
            )
        node = node[part]
    if parts[-1] not in node:
        where = ".".join(parts[:-1]) or "top level"
        raise ConfigError(f"unknown config key {key!r}; valid keys in {where}: {', '.join(sorted(node))}")
    node[parts[-1]] = value


BUILTIN_CONFIGS = ("smiles_default", "smiles_tiny", "text_vader", "text_tiny")


def builtin_config_path(name: str) -> Path:
    return Path(str(resources.files("seqcvae") / "configs" / f"{name}.toml"))


def load_config(path_or_name: str | None, overrides: list[str] | None = None) -> RunConfig:
    """Load a TOML file (or a built-in config by name), then apply dotted overrides."""
    if path_or_name is None:
        path_or_name = "smiles_default"
    path = Path(path_or_name)
    if not path.exists() and path_or_name in BUILTIN_CONFIGS:
        path = builtin_config_path(path_or_name)
    if not path.exists():
        raise ConfigError(
            f"config file {path_or_name!r} not found; give a TOML path or one of the built-in "
            f"configs: {', '.join(BUILTIN_CONFIGS)}"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    return RunConfig.from_dict(data).with_overrides(overrides or [])
