"""Back-translation (train.cycle_weight): the other tags a rewrite is decoded under, the rewrite as
encoder input, which conditions each half of the cycle pass sees, and a run that trains with it."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from seqcvae.config import ModelConfig, load_config
from seqcvae.data.dataset import Batch
from seqcvae.errors import ConfigError
from seqcvae.models.checkpoint import load_checkpoint
from seqcvae.models.cvae import CVAE, CVAEShape
from seqcvae.tokenizers.base import BOS, EOS, PAD
from seqcvae.training.build import CycleInput, TrainForward
from seqcvae.training.policy import back_translation_input, other_tags
from tests.test_adversary import train_run, write_corpus

pytestmark = pytest.mark.usefixtures("one_thread")


def test_other_tags_change_every_labelled_tag_within_its_values():
    g = torch.Generator().manual_seed(0)
    # tag 0: any + 2 values; tag 1: any + 4 values; tag 2: a single value
    tags = torch.tensor([[1, 1, 1], [2, 4, 0], [0, 0, 1]]).repeat(200, 1)
    out = other_tags(tags, [3, 5, 2], g)
    labelled = tags != 0
    assert bool((out[:, :2][labelled[:, :2]] != tags[:, :2][labelled[:, :2]]).all())
    assert int(out[:, 0].min()) == 1 and int(out[:, 0].max()) == 2
    assert int(out[:, 1].min()) == 1 and int(out[:, 1].max()) == 4
    # binary: the other value exactly; four values: all three others drawn
    assert bool((out[tags[:, 0] == 1, 0] == 2).all()) and bool((out[tags[:, 0] == 2, 0] == 1).all())
    assert set(out[tags[:, 1] == 1, 1].tolist()) == {2, 3, 4}
    assert bool((out[:, 2] == 1).all())  # one value: kept (and given to rows without one)
    assert set(out[tags[:, 1] == 0, 1].tolist()) == {1, 2, 3, 4}  # no value: any of them


def test_back_translation_input_is_bos_content_eos_cut_to_the_length():
    decoded = torch.tensor(
        [
            [5, 6, EOS, PAD, PAD],
            [7, 8, 9, 10, 11],  # cut at the length limit, no <eos>
            [EOS, PAD, PAD, PAD, PAD],  # empty
        ]
    )
    tokens, lengths = back_translation_input(decoded, max_length=3)
    assert tokens.tolist() == [
        [BOS, 5, 6, EOS, PAD],
        [BOS, 7, 8, 9, EOS],
        [BOS, EOS, PAD, PAD, PAD],
    ]
    assert lengths.tolist() == [3, 4, 1]


def test_a_cycle_without_tags_is_refused():
    with pytest.raises(ConfigError, match=r"train.cycle_weight = 1.0 needs tag conditions.*data.tags"):
        load_config("smiles_tiny", ["train.cycle_weight=1"])


def test_the_cycle_pass_encodes_the_rewrite_under_its_tags_and_decodes_under_the_own():
    torch.manual_seed(0)
    widths = ModelConfig(embedding_dim=8, encoder_hidden=8, decoder_hidden=8, latent_dim=4, condition_dim=4)
    shape = CVAEShape(
        **vars(widths),
        vocab_size=12,
        num_continuous=0,
        tag_sizes=[3],
    )
    model = CVAE(shape).eval()
    b = Batch(
        tokens=torch.tensor([[BOS, 5, 6, EOS], [BOS, 7, EOS, PAD]]),
        lengths=torch.tensor([3, 2]),
        cond_values=torch.zeros(2, 0),
        cond_present=torch.zeros(2, 0),
        cond_tags=torch.tensor([[1], [2]]),
    )
    rewrite = CycleInput(
        tokens=torch.tensor([[BOS, 8, EOS], [BOS, 9, EOS]]),
        lengths=torch.tensor([2, 2]),
        tags=torch.tensor([[2], [1]]),
        noise=torch.randn(2, 4),
    )
    inputs = b.tokens[:, :-1]
    out = TrainForward(model)(b, b.cond_present, b.cond_tags, inputs, torch.zeros(2, 4), None, rewrite)
    own = model.embed_conditions(b.cond_values, b.cond_present, b.cond_tags)
    other = model.embed_conditions(b.cond_values, b.cond_present, rewrite.tags)
    mu, logvar = model.encode(rewrite.tokens, rewrite.lengths, other)
    z = model.reparameterise(mu, logvar, rewrite.noise)
    assert out.cycle is not None
    assert torch.allclose(out.cycle.mu, mu) and torch.allclose(out.cycle.z, z)
    assert torch.allclose(out.cycle.nll, model.decode_nll(inputs, z, own, b.tokens[:, 1:]))
    # the tags matter to both halves: swapping them changes the pass
    assert not torch.allclose(model.encode(rewrite.tokens, rewrite.lengths, own)[0], mu)
    assert not torch.allclose(model.decode_nll(inputs, z, other, b.tokens[:, 1:]), out.cycle.nll)


def test_a_run_with_back_translation_trains_and_logs_the_cycle(tmp_path):
    data = tmp_path / "corpus.tsv"
    write_corpus(data, n=200)
    out = tmp_path / "cycle"
    assert train_run(out, data, "train.cycle_weight=1", "train.max_steps=4", "train.log_every_steps=1") == 0
    with open(out / "metrics.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "train"]
    cycle = [float(r["cycle_rec"]) for r in rows]
    assert len(cycle) == 4 and all(math.isfinite(v) and v > 0 for v in cycle)
    assert load_checkpoint(out).meta["step"] == 4
    # without it the column stays empty
    plain = tmp_path / "plain"
    assert train_run(plain, data, "train.max_steps=2") == 0
    with open(plain / "metrics.csv", encoding="utf-8") as fh:
        assert all(r["cycle_rec"] == "" for r in csv.DictReader(fh))
