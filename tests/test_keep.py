"""Transfer's bonus on the input's tokens (generation/keep.py): each source token keeps its bonus
until the row has written it as often as the input holds it."""

from __future__ import annotations

import torch

from seqcvae.generation.beam import beam_search
from seqcvae.generation.keep import SourceBonus
from seqcvae.generation.sampling import SamplingSettings, decode_tokens
from seqcvae.tokenizers.base import BOS, EOS, PAD, UNK, content_ids
from tests.toy_decoder import ToyModel

V = 10


def test_a_token_loses_its_bonus_once_written_as_often_as_the_input_has_it():
    bonus = SourceBonus.of([[5, 5, 7, PAD, BOS, UNK]], V, 2.0)
    assert bonus.bias()[0].nonzero().squeeze(1).tolist() == [EOS, 5, 7]  # controls never, its end once
    bonus.consume(torch.tensor([5]))
    assert bonus.bias()[0, 5] == 2.0  # the input holds it twice
    bonus.consume(torch.tensor([5]))
    bonus.consume(torch.tensor([9]))  # not a source token: nothing to take
    assert bonus.bias()[0, 5] == 0.0 and bonus.bias()[0, 7] == 2.0 and int(bonus.counts.min()) == 0


def _flat_model() -> ToyModel:
    """Every content token equally likely at every step, the end a little less."""

    def fn(key: int, prefix: tuple[int, ...]) -> torch.Tensor:
        logits = torch.zeros(V)
        logits[EOS] = -0.5
        return logits

    return ToyModel(fn, V)


def test_greedy_and_beam_write_each_source_token_once_then_end():
    """With a large bonus on a flat model, decoding spends the input's tokens and then its end."""
    source = [[4, 6, 6, 8], [9]]
    z, c = torch.tensor([[0.0], [1.0]]), torch.zeros(2, 0)
    settings = SamplingSettings(max_length=12, strategy="greedy")
    greedy = decode_tokens(_flat_model(), z, c, settings, bonus=SourceBonus.of(source, V, 50.0)).tolist()
    beam = beam_search(_flat_model(), z, c, beam_size=3, max_length=12, bonus=SourceBonus.of(source, V, 50.0))
    for out in (greedy, beam.tolist()):
        for row, src in zip(out, source):
            assert EOS in row
            assert sorted(content_ids(row)) == sorted(src), (row, src)
