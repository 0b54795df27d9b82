"""A Transformer's positions come from data.max_length: the sampling length (sample.max_length) never
changes the model's parameters, and asking for longer sequences than the model has positions for is
a clear error at training, at generation and in the decoder itself. Checkpoints whose positions were
sized by the earlier rule (max(data, sample.max_length) + 2) keep loading, sampling and resuming."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqcvae.cli import main
from seqcvae.config import RunConfig, load_config
from seqcvae.data.splits import prepare_run_data
from seqcvae.errors import ConfigError, SeqCVAEError
from seqcvae.generation.generator import Generator
from seqcvae.models.checkpoint import load_checkpoint
from seqcvae.models.cvae import CVAE, CVAEShape
from seqcvae.training import build
from tests.conftest import tiny_overrides

pytestmark = pytest.mark.usefixtures("one_thread")

TRANSFORMER = [
    "model.encoder=transformer",
    "model.decoder=transformer",
    "model.encoder_hidden=32",
    "model.decoder_hidden=32",
    "model.heads=2",
    "data.limit=600",
    "data.max_length=60",
    "sample.max_length=60",
    "train.max_steps=3",
    "train.val_max_sequences=20",
]


def _cfg(*overrides: str) -> RunConfig:
    return load_config("smiles_tiny", ["data.limit=600", "data.max_length=60", *overrides])


def _n_params(cfg: RunConfig) -> int:
    shape = build.model_shape(cfg, prepare_run_data(cfg))
    return sum(p.numel() for p in CVAE(shape).parameters())


def test_sample_max_length_does_not_change_the_parameters():
    """A Transformer encoder with a GRU decoder: the sampling length is free, and the encoder's
    position table is sized by data.max_length alone."""
    short = _cfg("model.encoder=transformer", "sample.max_length=60")
    long = _cfg("model.encoder=transformer", "sample.max_length=200")
    assert build.model_shape(long, prepare_run_data(long)).max_positions == 62
    assert _n_params(short) == _n_params(long)


def test_training_a_transformer_decoder_refuses_a_longer_sample_max_length(tmp_path):
    cfg = _cfg("model.decoder=transformer", "sample.max_length=80", "train.max_steps=1")
    from seqcvae.recipes.train import train

    with pytest.raises(ConfigError, match=r"sample\.max_length=80.*60"):
        train(cfg, tmp_path / "run", log=lambda _m: None, progress=False)


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("positions") / "run"
    assert main(["train", *tiny_overrides(run), *TRANSFORMER]) == 0
    return run


def test_sampling_past_the_positions_is_a_clear_error(transformer_run):
    gen = Generator.load(transformer_run)
    assert gen.model.max_length == 60
    assert len(gen.generate({"LogP": 2.0}, n=2, max_length=60, check=False)) == 2
    for strategy in ("sample", "greedy", "beam"):
        with pytest.raises(ConfigError, match=r"max_length=61.*60 tokens"):
            gen.generate({"LogP": 2.0}, n=2, max_length=61, strategy=strategy, check=False)


def test_the_decoder_past_its_positions_raises_a_project_error(transformer_run):
    model = Generator.load(transformer_run).model
    state = model.decoder.start(torch.zeros(1, model.shape.latent_dim + model.shape.condition_dim))
    token = model.embedding(torch.tensor([1]))
    with pytest.raises(SeqCVAEError, match="62 positions"):
        for _ in range(63):
            _, state = model.decoder.step(token, state)


def _old_rule(cfg: RunConfig, prepared) -> CVAEShape:
    """Positions as seqcvae sized them before: max(data.max_length, sample.max_length) + 2."""
    from seqcvae.tokenizers.base import PAD

    return CVAEShape.from_config(
        cfg.model,
        vocab_size=prepared.tokenizer.vocab_size,
        num_continuous=prepared.conditions.num_continuous,
        tag_sizes=prepared.conditions.tag_sizes,
        max_positions=max(cfg.data.max_length, cfg.sample.max_length) + 2,
        pad_id=PAD,
    )


def test_a_checkpoint_sized_by_the_old_rule_loads_samples_and_resumes(tmp_path, monkeypatch):
    run = tmp_path / "old"
    with monkeypatch.context() as m:
        m.setattr(build, "model_shape", _old_rule)
        assert main(["train", *tiny_overrides(run), *TRANSFORMER, "sample.max_length=80"]) == 0
    assert load_checkpoint(run, which="last").meta["model_shape"]["max_positions"] == 82
    gen = Generator.load(run)
    assert gen.model.max_length == 80  # its stored positions, not today's rule
    assert len(gen.generate({"LogP": 2.0}, n=2, check=False)) == 2  # its sample.max_length=80
    assert main(["train", "--resume", str(run), "--no-progress", "train.max_steps=5"]) == 0
    ckpt = load_checkpoint(run, which="last")
    assert ckpt.meta["step"] == 5 and ckpt.meta["model_shape"]["max_positions"] == 82
