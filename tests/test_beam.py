import pytest
import torch

from seqcvae.cli import main
from seqcvae.generation.beam import beam_search
from seqcvae.tokenizers.base import EOS, PAD
from tests.toy_decoder import ToyModel, brute_force_best, log_prob, random_logits

A, B = 4, 5  # the toy's two free tokens in the hand-made case


def _search(model, keys, k, max_length, alpha):
    z = torch.tensor(keys, dtype=torch.float32).unsqueeze(1)
    out = beam_search(model, z, torch.zeros(len(keys), 0), k, max_length, alpha)
    return [tuple(t for t in row.tolist() if t != PAD) for row in out]


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0])
def test_beam_as_wide_as_the_prefixes_finds_the_exact_best_sequence(alpha):
    """Three free tokens and <eos>, up to 4 free tokens: at most 27 * 4 = 108 extensions per
    step, so a beam of 108 is exact search. Every row (its own table of logits) gets the
    brute-force optimum."""
    vocab, max_length = 7, 4
    fn = random_logits(seed=1, vocab=vocab, scale=1.5, eos_bias=0.5)
    model = ToyModel(fn, vocab)
    keys = list(range(6))
    found = _search(model, keys, 108, max_length, alpha)
    for key, seq in zip(keys, found):
        best = brute_force_best(fn, key, vocab, max_length, alpha)
        score = log_prob(fn, key, seq) / len(seq) ** alpha
        assert score == pytest.approx(log_prob(fn, key, best) / len(best) ** alpha, abs=1e-5), key
        assert seq == best


def _early_finish(key, prefix):
    """<eos> is the second most likely first token; b is third, and 'b <eos>' is certain."""
    logits = torch.full((7,), float("-inf"))
    if prefix == ():
        logits[[A, EOS, B]] = torch.tensor([0.40, 0.35, 0.25]).log()
    elif prefix[0] == B:
        logits[EOS] = 0.0
    else:
        logits[[A, B, EOS]] = 0.0
    return logits


def test_finished_hypotheses_do_not_narrow_the_beam():
    """With K = 2 the first step's top two are 'a' and '<eos>'. The beam must keep two live
    hypotheses ('a' and 'b') after '<eos>' finishes: 'b <eos>' is the best sequence under the
    per-token length penalty (-0.69 against -1.01 for 'a <eos>' and -1.05 for '<eos>')."""
    model = ToyModel(_early_finish, 7)
    best = brute_force_best(_early_finish, 0, 7, 5, 1.0)
    assert best == (B, EOS)
    assert _search(model, [0], 2, 5, 1.0) == [best]


def test_a_narrow_beam_on_random_tables():
    """Beyond exact search: under the per-token length penalty a beam of 10 (against up to 3**5
    prefixes) finds the optimum of every row here, a beam of 4 of nearly every row, and
    greedy decoding (a beam of 1) misses many."""
    vocab, max_length = 7, 5
    fn = random_logits(seed=4, vocab=vocab, scale=2.0)
    model = ToyModel(fn, vocab)
    keys = list(range(20))
    best = [brute_force_best(fn, key, vocab, max_length, 1.0) for key in keys]

    def hits(k: int) -> int:
        return sum(s == b for s, b in zip(_search(model, keys, k, max_length, 1.0), best))

    assert hits(10) == 20 and hits(4) >= 18 and hits(1) <= 14


def test_cut_sequences_end_at_max_length():
    """A toy that never wants to stop: every row is cut at max_length + 1 tokens."""
    fn = random_logits(seed=2, vocab=7, eos_bias=-30.0)
    seqs = _search(ToyModel(fn, 7), [0, 1], 3, 4, 1.0)
    assert [len(s) for s in seqs] == [5, 5] and all(EOS not in s for s in seqs)


@pytest.mark.parametrize(
    "extra", [["--temperature", "0.5"], ["--top-k", "3"], ["--top-p", "0.9"], ["--greedy"]]
)
def test_beam_with_sampling_options_is_a_usage_error(tmp_path, capsys, extra):
    argv = ["generate", "--checkpoint", str(tmp_path / "none"), "--beam", "3", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and extra[0] in err and "--beam 3" in err


def test_length_penalty_without_beam_is_a_usage_error(tiny_run, capsys):
    assert main(["generate", "--checkpoint", str(tiny_run), "--length-penalty", "0.5"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--length-penalty 0.5" in err and "--beam" in err


def test_generate_passes_the_length_penalty_to_the_beam(tiny_run, tmp_path, monkeypatch):
    from seqcvae.generation import beam

    seen = []

    def spy(model, z, c, beam_size, max_length, length_penalty, **kw):
        seen.append((beam_size, length_penalty))
        return beam_search(model, z, c, beam_size, max_length, length_penalty, **kw)

    monkeypatch.setattr(beam, "beam_search", spy)
    argv = ["generate", "--checkpoint", str(tiny_run), "--n", "4", "--beam", "3", "--json"]
    assert main([*argv, "--length-penalty", "0.25"]) == 0
    assert main(argv) == 0
    assert seen == [(3, 0.25), (3, 1.0)]
