"""Typed run configuration: dataclass defaults < TOML file < dotted CLI overrides.

Defaults live only in these dataclasses. Unknown keys and wrong types are errors that name the bad
key and the valid ones. The resolved config is written next to every run and into every checkpoint,
with its `config_version`. A config of an earlier version is brought up to date by `migrate`
(config_migrations.py), the one place that knows how keys were added, renamed or removed: stored
configs (config.json of a run or checkpoint) without a version are version 1 (seqcvae before
versioning); TOML files and dicts without one are read as the current version.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from seqcvae import _toml as tomllib
from seqcvae.config_migrations import CONFIG_VERSION, migrate
from seqcvae.errors import ConfigError
from seqcvae.fields import build, check, choice, like, number


@dataclass
class DataConfig:
    """Where the training sequences and their conditions come from."""

    kind: str = choice("smiles", "text")  # "smiles" (RDKit-checked, regex tokens) or "text" (SentencePiece)
    # SMILES runs: the model reads and writes SMILES tokens or SELFIES tokens (every SELFIES string
    # is a valid molecule; `pip install 'seqcvae[selfies]'`); files and outputs stay SMILES.
    representation: str = choice("smiles", "selfies")
    train_path: str = "data/moses_sample/train.csv.gz"
    val_path: str = ""  # empty: hold out val_fraction of the training file
    val_fraction: float = number(0.05, ge=0, lt=1)
    split_seed: int = number(0, ge=0)  # which rows are held out (independent of train.seed)
    sequence_column: str = "SMILES"
    # Continuous conditions: column names (for SMILES, missing columns are computed with RDKit).
    properties: list[str] = field(default_factory=lambda: ["LogP", "MolWt", "QED", "TPSA"])
    tags: list[str] = field(default_factory=list)  # categorical condition columns
    max_length: int = number(100, ge=1)  # tokens, excluding <bos>/<eos>
    too_long: str = choice("drop", "truncate")  # "drop" or "truncate" sequences longer than max_length
    # A run from a trained model (--init-from) cannot learn new tokens: "refuse" rows with tokens
    # outside its vocabulary (naming them), or "drop" those rows (counted in the data summary).
    unknown_tokens: str = choice("refuse", "drop")
    max_skip_fraction: float = number(0.2, ge=0, le=1)  # fail if more rows than this are unusable
    limit: int = number(0, ge=0)  # use a fixed random subset of N rows (0 = all); for quick experiments
    vocab_size: int = number(4000, ge=8)  # text: SentencePiece vocabulary size (a soft limit)
    # text: "unigram" or "bpe" subwords, or "word" (one piece per whitespace-separated word: for
    # corpora with a closed vocabulary such as PTB, whose published perplexities are word-level)
    sp_model_type: str = choice("unigram", "bpe", "word")
    # Checked, measured and tokenised rows are cached here as memory-mapped Arrow files
    # ("" = $XDG_CACHE_HOME/seqcvae/datasets, default ~/.cache/seqcvae/datasets).
    cache_dir: str = ""


@dataclass
class ModelConfig:
    """Architecture of the CVAE."""

    embedding_dim: int = number(64, ge=1)
    encoder_hidden: int = number(128, ge=1)
    encoder_layers: int = number(1, ge=1)
    decoder_hidden: int = number(512, ge=1)
    decoder_layers: int = number(1, ge=1)
    latent_dim: int = number(64, ge=1)
    condition_dim: int = number(64, ge=1)  # width of the learned condition embedding c
    dropout: float = number(0.0, ge=0, lt=1)
    # DropConnect on the GRU or LSTM decoder's recurrent weights in training (AWD-LSTM's weight drop): a
    # regulariser of the recurrence for large text corpora; 0 = off. Ignored by a Transformer decoder.
    weight_drop: float = number(0.0, ge=0, lt=1)
    # In training, each word type's embedding row dropped for the whole batch (every occurrence
    # alike) with this probability, the kept rows scaled by 1 / (1 - p): AWD-LSTM's embedding
    # dropout, a regulariser of rare words' embeddings for text; 0 = off. Before model.dropout.
    embedding_dropout: float = number(0.0, ge=0, lt=1)
    # model.dropout's masks on the token embeddings and in the GRU or LSTM decoder drawn once per
    # sequence and shared by its steps (variational / locked dropout), not per token
    locked_dropout: bool = False
    # N(0, I), a learned p(z|c), or a diagonal Gaussian mixture fitted to a trained model's
    # aggregate posterior (`seqcvae fit-prior` writes it; training starts from standard)
    prior: str = choice("standard", "conditional", "mixture")
    prior_components: int = number(64, ge=1)  # the mixture prior's components
    encoder: str = choice("gru", "transformer")  # bidirectional GRU or pre-LN (width encoder_hidden)
    # gru or lstm: recurrent, width decoder_hidden; transformer: causal, KV cache, width decoder_hidden
    decoder: str = choice("gru", "lstm", "transformer")
    heads: int = number(4, ge=1)  # attention heads (transformer only)
    decoder_condition: str = choice("prefix", "memory")  # transformer decoder: (z, c) as prefix or memory
    condition_tokens: int = number(1, ge=1)  # transformer decoder: number of prefix / memory vectors
    # Adaptive softmax clusters over the decoder's output (ids are frequency-ranked): e.g. [2000]
    # puts the 2,000 most frequent tokens in the head and the rest in one narrower tail cluster;
    # [] = the full softmax. For large text vocabularies; SMILES vocabularies are small.
    output_cutoffs: list[int] = field(default_factory=list)
    # The decoder's output layer reuses the token embeddings (weight tying, through a projection to
    # embedding_dim), with the full or the adaptive softmax: a regulariser for text.
    tie_embeddings: bool = False


@dataclass
class TrainConfig:
    """Optimisation and training policy (annealing, free bits, word dropout)."""

    seed: int = 0
    epochs: int = number(50, ge=1)
    # Wall-clock budget of the training steps, 0 = no limit: converted once into a step count (from
    # the first steps' times), which sets the LR schedule and is stored in checkpoints for --resume.
    max_minutes: float = number(0.0, ge=0)
    max_steps: int = number(0, ge=0)  # 0 = no limit
    batch_size: int = number(128, ge=1)
    lr: float = number(2e-3, gt=0)
    min_lr: float = number(2e-4, ge=0)
    warmup_steps: int = number(200, ge=0)
    lr_schedule: str = choice("cosine", "constant")  # cosine over the run's step count, or constant
    weight_decay: float = number(0.01, ge=0)
    grad_clip: float = number(1.0, ge=0)
    kl_schedule: str = choice("constant", "linear", "logistic", "cyclical", default="linear")
    kl_max: float = number(1.0, ge=0)
    kl_warmup_steps: int = number(1000, ge=0)  # linear ramp length; logistic: reaches ~kl_max here
    kl_cycle_steps: int = number(2000, ge=1)  # period for the cyclical schedule
    kl_cycle_ratio: float = number(0.5, gt=0, le=1)  # fraction of each cycle spent ramping
    free_bits: float = number(0.0, ge=0)  # nats per latent dimension (batch-averaged), 0 = off
    word_dropout: float = number(0.0, ge=0, lt=1)  # probability of replacing a decoder input by <unk>
    condition_dropout: float = number(0.3, ge=0, le=1)  # probability of hiding each condition
    # SMILES runs: probability that the encoder reads a random SMILES of the molecule (RDKit) instead
    # of the file's string; the decoder's target stays the file's string.
    randomize_smiles: float = number(0.0, ge=0, le=1)
    # Weight of MMD(q(z), N(0, I)) over each batch's z (InfoVAE / WAE), in nats per sequence: pulls
    # the aggregate posterior onto the prior (fewer holes for prior samples) without penalising
    # how much z says about each sequence; 0 = off.
    mmd_weight: float = number(0.0, ge=0)
    # Weight of a condition adversary on z: a small network learns to predict each tag from z
    # (cross-entropy) and each continuous condition (squared error in training standard
    # deviations), while the encoder is trained to leave it uninformed (tags: maximum entropy;
    # values: its prediction pulled to the training mean), so z keeps the content and leaves the
    # style or properties to the conditions (John et al. 2019). Only conditions given to the model
    # are hidden (condition dropout's unconditioned rows keep them in z). Per sequence, as the other
    # terms; 0 = off (no adversary in the model).
    adversary_weight: float = number(0.0, ge=0)
    # Weight of back-translation (runs with data.tags; Lample et al. 2019): each sentence is decoded
    # greedily from its posterior mean under another value of its tags, and the model learns to
    # rebuild the sentence from that rewrite (encoded under the other tags) under its own tags, so
    # z learns to carry the content of a rewritten sentence as well as of the original; in nats per
    # sequence, as the other terms; 0 = off. Each step costs about one more forward and backward
    # pass plus a greedy decode of the batch.
    cycle_weight: float = number(0.0, ge=0)
    # Exponential moving average of the weights (Polyak averaging), 0 = off: after each step the
    # average moves towards the trained weights by 1 - ema_decay (e.g. 0.999: about the last 1,000
    # steps). Validation and the checkpoints' weights are the average; --resume may change it.
    ema_decay: float = number(0.0, ge=0, lt=1)
    val_every_steps: int = number(0, ge=0)  # N > 0: also validate (and checkpoint) every N steps
    # SMILES runs: at each validation also the RDKit validity of N prior samples (T = 1, no
    # condition) in metrics.csv (column validity); 0 = off.
    val_samples: int = number(200, ge=0)
    tensorboard: bool = False  # also write metrics.csv's rows as TensorBoard scalars (RUN/tensorboard)
    val_max_sequences: int = number(2000, ge=1)
    val_iw_samples: int = number(5, ge=1)  # importance samples for the validation IW-NLL
    log_every_steps: int = number(50, ge=1)
    threads: int = number(0, ge=0)  # torch intra-op threads, 0 = torch default
    precision: str = choice("auto", "fp32", "bf16")  # GRU matrix products (auto: bf16 where faster)
    device: str = choice("auto", "cpu", "cuda")


@dataclass
class SamplingSettings:
    """How tokens are chosen at generation (the defaults are plain sampling at T=1)."""

    strategy: str = choice("greedy", "sample", "beam", default="sample")
    temperature: float = number(1.0, gt=0)
    top_k: int = number(0, ge=0)  # 0 = off
    top_p: float = number(1.0, gt=0, le=1)  # nucleus sampling; 1 = off
    max_length: int = number(100, ge=1)
    beam_size: int = number(5, ge=1)  # for strategy = "beam"
    length_penalty: float = number(1.0)  # beam: finished hypotheses ranked by log p / length**length_penalty
    # Classifier-free guidance: each step's logits are uncond + guidance * (cond - uncond), where
    # uncond are the logits under the same z with every condition unspecified (which the model
    # learned through train.condition_dropout); 1 = off, above 1 follows the conditions harder.
    guidance: float = number(1.0, gt=0)
    # SMILES runs: mask the tokens that would break SMILES syntax (a branch or ring closure left
    # open, a bond with nothing after it; generation.grammar), renormalising over the rest, and
    # refuse an end that one more atom would turn from invalid to valid (generation.end_check).
    grammar: bool = False
    # The prior's temperature: z = tau * eps for eps ~ N(0, I) (the conditional prior's mean plus
    # tau times its spread), as in Glow and NVAE's reduced-temperature sampling. Below 1 draws
    # from the prior's denser middle, where the decoder writes more valid SMILES at some cost in
    # diversity; 1 = the model's prior. Applies to samples from the prior only (not to transfer,
    # neighbours or interpolation, which decode a given z).
    latent_temperature: float = number(1.0, gt=0)

    def validate(self) -> None:
        check(self)

    @classmethod
    def of(cls, settings: SamplingSettings) -> SamplingSettings:
        """The sampling settings part of `settings` (e.g. of a SampleConfig)."""
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)})


@dataclass
class SampleConfig(SamplingSettings):
    """A run's default sampling settings for generation, with its seed and batch size."""

    temperature: float = like(SamplingSettings, "temperature", 0.8)
    top_p: float = like(SamplingSettings, "top_p", 0.95)
    batch_size: int = number(1000, ge=1)
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
        cfg = build(cls, migrate(data))
        check_consistency(cfg)
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


def check_consistency(cfg: RunConfig) -> None:
    """Checks across fields (each field's own choices and range are checked by `build`)."""
    for part in ("encoder", "decoder"):
        width = getattr(cfg.model, f"{part}_hidden")
        if getattr(cfg.model, part) == "transformer" and width % cfg.model.heads:
            raise ConfigError(
                f"model.{part}_hidden = {width} must be divisible by model.heads = "
                f"{cfg.model.heads} for the transformer {part}"
            )
    if cfg.train.adversary_weight > 0 and not (cfg.data.tags or cfg.data.properties):
        raise ConfigError(
            f"train.adversary_weight = {cfg.train.adversary_weight} needs conditions to hide from "
            "z, and data.tags and data.properties are empty; set one or train.adversary_weight=0"
        )
    if cfg.train.cycle_weight > 0 and not cfg.data.tags:
        raise ConfigError(
            f"train.cycle_weight = {cfg.train.cycle_weight} needs tag conditions to rewrite "
            "under, and data.tags is empty; set data.tags or train.cycle_weight=0"
        )


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


BUILTIN_CONFIGS = (
    "smiles_default",
    "smiles_latent",
    "smiles_moses",
    "smiles_tiny",
    "text_vader",
    "text_lm",
    "text_tiny",
)


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
