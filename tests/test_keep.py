"""Transfer's bonus on the input's tokens (generation/keep.py). The bag: each source token keeps its
bonus until the row has written it as often as the input holds it. The order: the bonus follows a
pointer through the input, so a row copies it in its order and may replace or skip a token."""

from __future__ import annotations

import torch

from seqcvae.generation.beam import beam_search
from seqcvae.generation.keep import ORDER_SHARES, SourceBonus
from seqcvae.generation.sampling import SamplingSettings, decode_tokens
from seqcvae.tokenizers.base import BOS, EOS, PAD, UNK, content_ids
from tests.toy_decoder import ToyModel

V = 10


def test_a_token_loses_its_bonus_once_written_as_often_as_the_input_has_it():
    bonus = SourceBonus.of([[5, 5, 7, PAD, BOS, UNK]], V, 2.0, mode="bag")
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
    bonus = SourceBonus.of(source, V, 50.0, mode="bag")
    greedy = decode_tokens(_flat_model(), z, c, settings, bonus=bonus.rows(slice(None))).tolist()
    beam = beam_search(_flat_model(), z, c, beam_size=3, max_length=12, bonus=bonus)
    for out in (greedy, beam.tolist()):
        for row, src in zip(out, source):
            assert EOS in row
            assert sorted(content_ids(row)) == sorted(src), (row, src)


def test_the_ordered_bonus_follows_a_pointer_through_the_input():
    bonus = SourceBonus.of([[5, 6, 7, PAD], [9]], V, 4.0)  # the default mode: order
    first = bonus.bias()
    assert first[0, 5] == 4.0 * ORDER_SHARES[0] and first[0, 6] == 4.0 * ORDER_SHARES[1]
    assert first[0, 7] == 4.0 * ORDER_SHARES[2] and first[0].count_nonzero() == 3  # not yet its end
    assert first[1, 9] == 4.0 and first[1, EOS] == 4.0 * ORDER_SHARES[1]
    bonus.consume(torch.tensor([6, 3]))  # row 0 skips 5; row 1 writes a token the input lacks
    assert bonus.pointer.tolist() == [2, 0]
    after = bonus.bias()
    assert after[0, 7] == 4.0 and after[0, 5] == 0.0 and after[0, EOS] == 4.0 * ORDER_SHARES[1]
    assert torch.equal(after[1], first[1])  # an insertion leaves the pointer where it was
    bonus.consume(torch.tensor([7, 9]))
    bonus.consume(torch.tensor([EOS, EOS]))
    assert bonus.pointer.tolist() == [4, 2] and int(bonus.bias().count_nonzero()) == 0


def test_with_the_ordered_bonus_decoding_copies_the_input_in_its_order():
    """On a flat model the bag's greedy row writes its tokens lowest id first; with the order
    bonus greedy and beam rows write the input as it is."""
    source = [[8, 4, 6, 6], [9, 7]]
    z, c = torch.tensor([[0.0], [1.0]]), torch.zeros(2, 0)
    settings = SamplingSettings(max_length=12, strategy="greedy")
    bag = decode_tokens(_flat_model(), z, c, settings, bonus=SourceBonus.of(source, V, 50.0, mode="bag"))
    assert [content_ids(row) for row in bag.tolist()] == [[4, 6, 6, 8], [7, 9]]
    order = SourceBonus.of(source, V, 50.0, mode="order")
    greedy = decode_tokens(_flat_model(), z, c, settings, bonus=order.rows(slice(None))).tolist()
    beam = beam_search(_flat_model(), z, c, beam_size=3, max_length=12, bonus=order).tolist()
    for out in (greedy, beam):
        assert [content_ids(row) for row in out] == source, out


def test_a_position_with_no_share_of_the_ordered_bonus_gets_none_but_still_moves_the_pointer():
    bonus = SourceBonus.of([[5, 6, 7]], V, 4.0, mode="style", scale=[[1.0, 0.0, 1.0]])
    first = bonus.bias()[0]
    assert first[5] == 4.0 and first[6] == 0.0 and first[7] == 4.0 * ORDER_SHARES[2]
    bonus.consume(torch.tensor([5]))
    assert bonus.bias()[0, 6] == 0.0 and bonus.bias()[0, 7] == 4.0 * ORDER_SHARES[1]
    bonus.consume(torch.tensor([6]))  # the model wrote the token after all: the copy goes on
    assert bonus.pointer.tolist() == [2] and bonus.bias()[0, 7] == 4.0


def test_a_piece_that_continues_a_word_is_copied_only_right_after_the_piece_before_it():
    """Source pieces 5 6 | 7 (6 continues 5's word): 6 gets its share only at the pointer after
    the row copied 5, so a rewrite of 5 is never followed by 5's ending."""
    bonus = SourceBonus.of([[5, 6, 7], [5, 6, 7]], V, 4.0, joins=[[False, True, False]] * 2)
    first = bonus.bias()
    assert first[0, 5] == 4.0 and first[0, 6] == 0.0 and first[0, 7] == 4.0 * ORDER_SHARES[2]
    bonus.consume(torch.tensor([5, 8]))  # row 0 copies 5; row 1 writes another word instead
    after = bonus.bias()
    assert after[0, 6] == 4.0 and after[0, 7] == 4.0 * ORDER_SHARES[1]
    assert after[1, 6] == 0.0 and after[1, 5] == 4.0  # no graft; the word itself may still come
    bonus.consume(torch.tensor([6, 7]))
    assert bonus.pointer.tolist() == [2, 3]


def test_a_word_left_free_is_rewritten_whole_not_grafted():
    """On a flat model with a large bonus, the style mode leaving the first piece of word 4+6 free:
    without the joins the row writes the word's ending alone, with them it goes on to the next word."""
    source, scale = [[4, 6, 8]], [[0.0, 1.0, 1.0]]
    z, c = torch.tensor([[0.0]]), torch.zeros(1, 0)
    settings = SamplingSettings(max_length=12, strategy="greedy")

    def decode(joins):
        bonus = SourceBonus.of(source, V, 50.0, mode="style", scale=scale, joins=joins)
        return content_ids(decode_tokens(_flat_model(), z, c, settings, bonus=bonus).tolist()[0])

    assert decode([[False, False, False]]) == [6, 8]  # "greatthing"
    assert decode([[False, True, False]]) == [8]
