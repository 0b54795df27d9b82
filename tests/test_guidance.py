"""Classifier-free guidance (sample.guidance, --guidance): each step decodes from
uncond + w * (cond - uncond), uncond being the same rows with every condition unspecified.

On the toy decoder the guided logits are known exactly, so sampling, greedy decoding and beam
search are checked against them; on real decoders (GRU, Transformer) the 2B-row batch is checked
against decoding the conditioned and the unconditioned rows separately; w = 1 must leave every
output as it was (the golden files)."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
import torch

from seqcvae.cli import main
from seqcvae.config import RunConfig, load_config
from seqcvae.errors import ConfigError
from seqcvae.generation.beam import beam_search
from seqcvae.generation.generator import Generator
from seqcvae.generation.guidance import GuidedSteps
from seqcvae.generation.sampling import SamplingSettings, decode_tokens
from seqcvae.models.cvae import CVAE, CVAEShape
from seqcvae.tokenizers.base import BOS, EOS, NEVER_SAMPLED, PAD
from tests.test_golden_records import SMILES_RUN, _same_as_golden
from tests.toy_decoder import FREE, ToyModel, brute_force_best, guided, log_prob, random_logits

VOCAB = 9
COND = torch.tensor([0.0, 0.0, 0.5, 0.0, 1.5, 1.0, 0.2, -0.5, -1.4])  # ids 0, 1, 3 never sampled
UNCOND = torch.tensor([0.0, 0.0, -0.3, 0.0, 0.4, 1.6, 0.2, 0.6, -0.2])


def _rows(keys: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """z (n, 0) and c (n, 1) = the keys: the toy's unconditioned copies then have key FREE."""
    return torch.zeros(len(keys), 0), torch.tensor(keys, dtype=torch.float32).unsqueeze(1)


def _softmax_of(logits: torch.Tensor) -> torch.Tensor:
    logits = logits.double().clone()
    logits[list(NEVER_SAMPLED)] = float("-inf")
    return logits.softmax(-1)


def _chi2_pvalue(tokens: torch.Tensor, probs: torch.Tensor) -> float:
    from scipy.stats import chisquare

    counts = torch.bincount(tokens, minlength=VOCAB).double()
    support = probs > 0
    assert counts[~support].sum() == 0, "drew a token outside the support"
    return float(chisquare(counts[support].numpy(), (probs[support] * len(tokens)).numpy()).pvalue)


@pytest.mark.parametrize("w", [0.5, 2.0, 3.0])
def test_sampling_draws_from_the_softmax_of_the_guided_logits(w):
    model = ToyModel(lambda key, prefix: (UNCOND if key == FREE else COND).clone(), VOCAB)
    n = 20000
    settings = SamplingSettings(max_length=1, guidance=w)
    tokens = decode_tokens(model, *_rows([7] * n), settings, seed=5)[:, 0]
    assert _chi2_pvalue(tokens, _softmax_of(UNCOND + w * (COND - UNCOND))) > 1e-3
    # the test has the power to tell guidance from none
    assert _chi2_pvalue(tokens, _softmax_of(COND)) < 1e-6


def _greedy_by_hand(fn, key: int, max_length: int) -> tuple[int, ...]:
    seq: tuple[int, ...] = ()
    while len(seq) <= max_length:
        logits = fn(key, seq)
        logits[list(NEVER_SAMPLED)] = float("-inf")
        seq = (*seq, int(logits.argmax()))
        if seq[-1] == EOS:
            break
    return seq


@pytest.mark.parametrize("w", [0.5, 1.5, 3.0])
def test_greedy_decoding_follows_the_guided_logits_at_every_step(w):
    """12 rows, each with its own prefix-dependent logits; rows finish at different steps, so the
    finished ones leave the (doubled) decoder state mid-batch."""
    fn = random_logits(seed=3, vocab=VOCAB, eos_bias=1.0)
    keys = list(range(12))
    settings = SamplingSettings(strategy="greedy", max_length=8, guidance=w)
    out = decode_tokens(ToyModel(fn, VOCAB), *_rows(keys), settings)
    found = [tuple(t for t in row.tolist() if t != PAD) for row in out]
    assert found == [_greedy_by_hand(guided(fn, w), key, 8) for key in keys]
    assert len({len(s) for s in found}) >= 3
    plain = decode_tokens(ToyModel(fn, VOCAB), *_rows(keys), dataclasses.replace(settings, guidance=1.0))
    assert [tuple(t for t in row.tolist() if t != PAD) for row in plain] != found


def test_beam_search_finds_the_best_sequence_under_the_guided_distribution():
    """A beam as wide as the prefixes is exact search, here of the guided log-probabilities."""
    vocab, max_length, w = 7, 4, 2.0
    fn = random_logits(seed=1, vocab=vocab, scale=1.5, eos_bias=0.5)
    keys = list(range(6))
    out = beam_search(ToyModel(fn, vocab), *_rows(keys), 108, max_length, 1.0, guidance=w)
    g = guided(fn, w)
    for key, row in zip(keys, out):
        seq = tuple(t for t in row.tolist() if t != PAD)
        best = brute_force_best(g, key, vocab, max_length, 1.0)
        assert log_prob(g, key, seq) / len(seq) == pytest.approx(log_prob(g, key, best) / len(best), abs=1e-5)


def _tiny_cvae(decoder: str) -> CVAE:
    torch.manual_seed(0)
    shape = CVAEShape(
        vocab_size=12, num_continuous=2, tag_sizes=[3], embedding_dim=8, encoder_hidden=8,
        decoder_hidden=16, latent_dim=4, condition_dim=4, decoder=decoder, heads=2, max_positions=12,
    )  # fmt: skip
    return CVAE(shape).eval()


@pytest.mark.parametrize("decoder", ["gru", "transformer"])
@torch.no_grad()
def test_both_halves_step_like_separate_decoders(decoder):
    """On real decoders: the guided logits are uncond + w * (cond - uncond) of the conditioned and
    the unconditioned rows decoded on their own, also after rows were dropped and reordered; with
    w = 1 the logits are bit-identical to stepping the decoder directly."""
    model = _tiny_cvae(decoder)
    n = 6
    z = torch.randn(n, 4)
    c = model.embed_conditions(torch.randn(n, 2), torch.ones(n, 2), torch.tensor([[1], [2]] * 3))
    free = model.unspecified_conditions(n)
    tokens = torch.randint(4, 12, (5, n))
    tokens[0] = BOS
    keep = torch.tensor([4, 0, 2])
    w = 2.5
    guided_steps = GuidedSteps(model, z, c, w)
    cond_steps, free_steps = GuidedSteps(model, z, c), GuidedSteps(model, z, free)
    state = model.decoder.start(torch.cat([z, c], dim=-1))
    rows = torch.arange(n)
    for t, token in enumerate(tokens):
        if t == 3:  # rows leave the state, the rest change places
            for s in (guided_steps, cond_steps, free_steps):
                s.reorder(keep)
            state, rows = model.decoder.reorder(state, keep), keep
        a, b, u = (s.step(token[rows]) for s in (guided_steps, cond_steps, free_steps))
        assert torch.allclose(a, u + w * (b - u), atol=1e-5)
        assert not torch.allclose(b, u, atol=1e-3)  # the conditions do change the logits
        direct, state = model.decoder.step(model.embedding(token[rows]), state)
        assert torch.equal(b, direct)


def test_unspecified_conditions_are_those_of_an_empty_request(tiny_run):
    gen = Generator.load(tiny_run)
    enc = gen._encode_requests([{}, {}])
    arrays = (torch.from_numpy(a) for a in (enc.values, enc.present, enc.tags))
    with torch.no_grad():
        assert torch.equal(gen.model.embed_conditions(*arrays), gen.model.unspecified_conditions(2))


# --- w = 1 changes nothing ------------------------------------------------------------------------

GOLDEN_RUNS = [
    pytest.param(["-c", "LogP=1", "--n", "20", "--greedy"], "generate_greedy.csv", id="greedy"),
    pytest.param(["-c", "LogP=1", "--n", "4", "--beam", "4"], "generate_beam.csv", id="beam"),
    pytest.param(
        ["-c", "LogP=2.5", "-c", "MolWt=300", "--n", "300", "--seed", "3"],
        "generate_sample.csv",
        marks=pytest.mark.slow,
        id="sample",
    ),
]


@pytest.mark.parametrize(("extra", "golden"), GOLDEN_RUNS)
def test_guidance_1_writes_the_golden_samples(tmp_path, extra, golden):
    out = tmp_path / "out.csv"
    argv = ["generate", "--checkpoint", str(SMILES_RUN), *extra, "--guidance", "1", "--out", str(out)]
    assert main(argv) == 0
    _same_as_golden(out, golden)


def test_guidance_1_samples_equal_those_without_it(tiny_run):
    gen = Generator.load(tiny_run)
    reqs = [{"LogP": 1.0 + (i % 3)} for i in range(40)]

    def sample(**kw):
        return gen.sample_sequences(reqs, seed=2, settings=gen.default_settings(max_length=40, **kw))

    plain = sample()
    assert sample(guidance=1.0) == plain and sample(guidance=2.0) != plain


# --- settings and the command line ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf"])
@pytest.mark.parametrize("command", [["generate"], ["sweep", "--out", "x", "-t", "LogP=1"]])
def test_bad_guidance_is_a_one_line_error(capsys, value, command):
    argv = [command[0], "--checkpoint", "nowhere", *command[1:], f"--guidance={value}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--guidance" in err and value in err and "> 0" in err


@pytest.mark.parametrize("value", ["0", "-0.5"])
def test_bad_guidance_in_a_config_names_the_key(value):
    with pytest.raises(ConfigError, match=r"sample\.guidance = -?0\.?5?.*expected a number > 0"):
        load_config("smiles_tiny", [f"sample.guidance={value}"])
    with pytest.raises(ConfigError, match="guidance"):
        SamplingSettings(guidance=float(value)).validate()


def test_a_version_5_config_reads_with_guidance_off():
    stored = RunConfig().to_dict()
    stored["config_version"] = 5
    del stored["sample"]["guidance"]
    cfg = RunConfig.from_stored(stored)
    assert cfg.sample.guidance == 1.0 and cfg.config_version == RunConfig().config_version


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_generate_with_guidance_through_the_cli(tiny_run, tmp_path):
    common = ["generate", "--checkpoint", str(tiny_run), "-c", "LogP=3", "--n", "30", "--seed", "1", "--json"]
    outs = {}
    for w in ("1", "2"):
        outs[w] = tmp_path / f"w{w}.csv"
        assert main([*common, "--guidance", w, "--out", str(outs[w])]) == 0
    guided_rows, plain_rows = _csv(outs["2"]), _csv(outs["1"])
    assert len(guided_rows) == 30 and all(float(r["target_LogP"]) == 3 for r in guided_rows)
    assert [r["sequence"] for r in guided_rows] != [r["sequence"] for r in plain_rows]
    beam = tmp_path / "beam.csv"
    assert main([*common, "--n", "3", "--beam", "2", "--guidance", "2", "--out", str(beam)]) == 0
    assert len(_csv(beam)) == 3


def test_sweep_takes_guidance_from_its_spec_and_its_option(tiny_run, tmp_path):
    spec = tmp_path / "spec.toml"
    text = "n = 4\nimages = 0\n[targets]\nLogP = [1, 3]\n[sample]\nguidance = 1.5\n"
    spec.write_text(text, encoding="utf-8")
    base = ["sweep", "--checkpoint", str(tiny_run), "--spec", str(spec), "--no-plots"]
    for out, extra, expected in (("a", [], 1.5), ("b", ["--guidance", "2.5"], 2.5)):
        assert main([*base, "--out", str(tmp_path / out), *extra]) == 0
        written = json.loads((tmp_path / out / "spec.json").read_text(encoding="utf-8"))
        assert written["sample"]["guidance"] == expected
    spec.write_text("[targets]\nLogP = [1]\n[sample]\nguidance = 0\n", encoding="utf-8")
    assert main([*base, "--out", str(tmp_path / "c")]) == 2


def test_evaluate_labels_guided_samples():
    from seqcvae.evaluation.formatting import sampling_label
    from seqcvae.evaluation.report import MOSES_SAMPLING

    plain = {"strategy": "sample", "temperature": 0.8, "top_k": 0, "top_p": 0.95, "guidance": 1.0}
    assert sampling_label(plain) == "T=0.8, top-p=0.95"
    assert sampling_label({**plain, "guidance": 2.0}) == "T=0.8, top-p=0.95, guidance=2"
    assert sampling_label({**plain, "strategy": "greedy", "guidance": 1.5}) == "greedy, guidance=1.5"
    assert MOSES_SAMPLING["guidance"] == 1.0  # unconditional: guidance would only double the work
