import csv
import dataclasses
from pathlib import Path

import pytest
import torch

from seqcvae.cli import main
from seqcvae.errors import ConfigError
from seqcvae.evaluation.summary import summarise
from seqcvae.generation.generator import Generator
from seqcvae.generation.sampling import SamplingSettings, decode_tokens, filter_logits
from seqcvae.models.cvae import CVAE
from seqcvae.tokenizers.base import EOS, NEVER_SAMPLED
from tests.toy_decoder import ToyModel

FIXTURES = Path(__file__).parent / "fixtures"


def test_top_k_keeps_k_largest():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    out = filter_logits(logits, top_k=2)
    assert torch.isfinite(out).tolist() == [[False, True, True, False]]


def test_top_p_keeps_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    out = filter_logits(probs.log(), top_p=0.8)
    assert torch.isfinite(out).tolist() == [[True, True, False, False]]
    out = filter_logits(probs.log(), top_p=0.81)
    assert torch.isfinite(out).tolist() == [[True, True, True, False]]
    out = filter_logits(probs.log(), top_p=0.1)  # the top token always stays
    assert torch.isfinite(out).tolist() == [[True, False, False, False]]


@pytest.mark.parametrize(
    "kw",
    [
        dict(temperature=0),
        dict(top_p=0.0),
        dict(top_k=-1),
        dict(strategy="nucleus"),
        dict(beam_size=0),
        dict(length_penalty=float("nan")),
    ],
)
def test_bad_settings(kw):
    with pytest.raises(ConfigError):
        SamplingSettings(**kw).validate()


# --- the sampling distribution ------------------------------------------------------------------

VOCAB = 9
FIXED = torch.tensor([0.0, 0.0, 0.3, 0.0, 1.5, 1.0, 0.2, -0.5, -1.4])  # ids 0, 1, 3 never sampled


def _first_tokens(settings: SamplingSettings, n: int = 20000, seed: int = 7) -> torch.Tensor:
    """First tokens of n rows of a decoder whose logits are always FIXED."""
    model = ToyModel(lambda key, prefix: FIXED.clone(), VOCAB)
    z, c = torch.zeros(n, 1), torch.zeros(n, 0)
    return decode_tokens(model, z, c, dataclasses.replace(settings, max_length=1), seed=seed)[:, 0]


def _expected(temperature: float, keep: list[int]) -> torch.Tensor:
    logits = torch.full((VOCAB,), float("-inf"), dtype=torch.float64)
    logits[keep] = FIXED[keep].double() / temperature
    return logits.softmax(-1)


def _chi2_pvalue(tokens: torch.Tensor, probs: torch.Tensor) -> float:
    from scipy.stats import chisquare

    counts = torch.bincount(tokens, minlength=VOCAB).double()
    support = probs > 0
    assert counts[~support].sum() == 0, "drew a token outside the support"
    expected = probs[support] * len(tokens)
    return float(chisquare(counts[support].numpy(), expected.numpy()).pvalue)


ALL = [t for t in range(VOCAB) if t not in NEVER_SAMPLED]


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_temperature_draws_from_softmax_of_logits_over_t(temperature):
    tokens = _first_tokens(SamplingSettings(temperature=temperature))
    assert _chi2_pvalue(tokens, _expected(temperature, ALL)) > 1e-3
    # the test has the power to see a wrong temperature
    wrong = 1.0 if temperature != 1.0 else 2.0
    assert _chi2_pvalue(tokens, _expected(wrong, ALL)) < 1e-6


def test_top_k_draws_from_the_renormalised_top_k():
    tokens = _first_tokens(SamplingSettings(temperature=2.0, top_k=3))
    top3 = [4, 5, 2]  # the three largest fixed logits
    assert _chi2_pvalue(tokens, _expected(2.0, top3)) > 1e-3


def test_top_p_draws_from_the_renormalised_nucleus():
    p = _expected(1.0, ALL)
    order = p.argsort(descending=True).tolist()
    mass = p[order].cumsum(0)
    # the smallest nucleus whose mass reaches 0.7 (the top tokens until 0.7 is reached)
    nucleus = order[: int((mass < 0.7).sum()) + 1]
    assert 2 <= len(nucleus) < len(ALL)
    tokens = _first_tokens(SamplingSettings(temperature=1.0, top_p=0.7))
    assert _chi2_pvalue(tokens, _expected(1.0, nucleus)) > 1e-3


def test_every_step_draws_from_the_distribution():
    """Later steps draw afresh (not the first step's uniform again): the second tokens of rows whose
    first token was not <eos> follow the same law, independently of the first token."""
    model = ToyModel(lambda key, prefix: FIXED.clone(), VOCAB)
    n = 20000
    out = decode_tokens(model, torch.zeros(n, 1), torch.zeros(n, 0), SamplingSettings(max_length=2), seed=3)
    going = out[:, 0] != EOS
    assert _chi2_pvalue(out[going, 1], _expected(1.0, ALL)) > 1e-3
    p = _expected(1.0, ALL)
    first = p.clone()
    first[EOS] = 0.0  # the first token given that it is not <eos>
    same = (out[going, 0] == out[going, 1]).double().mean()
    assert abs(float(same) - float((first / first.sum() * p).sum())) < 0.02


# --- seeds and batching ---------------------------------------------------------------------------


def test_same_seed_same_samples(tiny_run):
    gen = Generator.load(tiny_run)
    a = gen.sample_sequences([{"LogP": 2.0}] * 50, seed=3, batch_size=16)
    b = gen.sample_sequences([{"LogP": 2.0}] * 50, seed=3, batch_size=16)
    c = gen.sample_sequences([{"LogP": 2.0}] * 50, seed=4, batch_size=16)
    assert a == b and a != c


def test_greedy_ignores_the_seed_and_temperature_moves_away_from_greedy(tiny_run):
    gen = Generator.load(tiny_run)
    z = torch.randn(40, gen.model.shape.latent_dim, generator=torch.Generator().manual_seed(0)) * 2
    reqs = [{}] * 40

    def run(seed, **kw):
        return gen.sample_sequences(reqs, seed=seed, settings=gen.default_settings(**kw), z=z)

    greedy = run(0, strategy="greedy")
    assert run(9, strategy="greedy") == greedy
    # sampling at a temperature near 0 is greedy decoding (this model's top two logits come as
    # close as 4e-5, far above 1e-7); at T = 1.5 most rows leave it
    assert run(5, strategy="sample", temperature=1e-7, top_p=1.0) == greedy
    hot = run(5, strategy="sample", temperature=1.5, top_p=1.0)
    assert sum(h != g for h, g in zip(hot, greedy)) >= 30


def _transformer_twin(gen: Generator) -> Generator:
    """The same tokenizer and conditions with an untrained Transformer decoder."""
    torch.manual_seed(0)
    shape = dataclasses.replace(gen.model.shape, decoder="transformer", heads=2)
    return Generator(CVAE(shape), gen.tokenizer, gen.conditions, gen.config)


@pytest.mark.parametrize("decoder", ["gru", "transformer"])
def test_samples_do_not_depend_on_batching_or_on_n(tiny_run, decoder):
    gen = Generator.load(tiny_run)
    if decoder == "transformer":
        gen = _transformer_twin(gen)
    reqs = [{"LogP": 1.0 + (i % 3)} for i in range(90)]
    settings = gen.default_settings(max_length=40)
    whole = gen.sample_sequences(reqs, seed=11, batch_size=1000, settings=settings)
    assert len(set(whole)) > 45  # really sampled
    for batch in (1, 7, 64):
        assert gen.sample_sequences(reqs, seed=11, batch_size=batch, settings=settings) == whole, batch
    assert gen.sample_sequences(reqs[:25], seed=11, settings=settings) == whole[:25]
    # finished rows leave the decoder state mid-batch; keeping them changes nothing either
    # (sample_sequences drops them; decode_tokens with drop_finished=False keeps them)
    c = torch.zeros(90, gen.model.shape.condition_dim)
    z = torch.randn(90, gen.model.shape.latent_dim)
    kept = decode_tokens(gen.model, z, c, settings, seed=1, drop_finished=False)
    dropped = decode_tokens(gen.model, z, c, settings, seed=1)
    assert torch.equal(kept[:, : dropped.shape[1]], dropped) and not kept[:, dropped.shape[1] :].any()


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_generate_n_is_a_prefix_of_a_larger_n(tiny_run, tmp_path):
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    common = ["generate", "--checkpoint", str(tiny_run), "-c", "LogP=2", "--seed", "4", "--json"]
    assert main([*common, "--n", "30", "--out", str(small)]) == 0
    assert main([*common, "--n", "100", "--batch-size", "16", "--out", str(large)]) == 0
    a, b = _csv_rows(small), _csv_rows(large)
    assert len({r["sequence"] for r in b}) > 50
    assert [r["sequence"] for r in a] == [r["sequence"] for r in b[:30]]


def test_sweep_samples_do_not_depend_on_its_batch_size(tiny_run, tmp_path):
    """batch_size is an output-only key of a sweep spec (a resume may change it): it must not
    change the samples."""
    from seqcvae.sweep import SweepSpec, plan_sweep
    from seqcvae.sweep.runner import merge, run_targets

    gen = Generator.load(tiny_run)
    texts = []
    for batch in (1000, 6):
        spec = SweepSpec.from_dict({"targets": {"LogP": "0:4:2"}, "n": 20, "images": 0, "batch_size": batch})
        plan = plan_sweep(gen, spec)
        out = tmp_path / f"b{batch}"
        run_targets(gen, plan, out, log=lambda _: None)
        merge(out, plan)
        texts.append((out / "samples.csv").read_text())
    assert texts[0] == texts[1]


def test_greedy_output_equals_the_b4cbcff_golden_file(tmp_path):
    """Greedy decoding (z from the seeded prior, argmax tokens) is unchanged since b4cbcff."""
    out = tmp_path / "greedy.csv"
    ckpt = FIXTURES / "ckpt_b4cbcff_smiles_tiny"
    argv = ["generate", "--checkpoint", str(ckpt), "-c", "LogP=1", "--n", "20", "--greedy", "--out", str(out)]
    assert main(argv) == 0
    golden = _csv_rows(FIXTURES / "golden_b4cbcff" / "generate_greedy.csv")
    assert [r["sequence"] for r in _csv_rows(out)] == [r["smiles"] for r in golden]


def test_generate_records(tiny_run):
    gen = Generator.load(tiny_run)
    recs = gen.generate({"LogP": 1.5, "MolWt": 320}, n=30, seed=0, top_k=5)
    assert len(recs) == 30
    for r in recs:
        assert r.targets == {"LogP": 1.5, "MolWt": 320}
        assert r.valid == (r.canonical is not None)
        assert set(r.properties) == ({"LogP", "MolWt"} if r.valid else set())
    s = summarise(gen, recs)
    assert s["validity"] == sum(r.valid for r in recs) / 30
    assert s["generated"] == 30


@pytest.mark.parametrize(
    ("decoder", "seed", "bump", "z_scale"), [("gru", 0, 0.3, 3), ("transformer", 1, 0.6, 30)]
)
def test_dropping_finished_rows_keeps_greedy_output(decoder, seed, bump, z_scale):
    """decode_tokens drops finished rows from the decoder state mid-batch; greedy output must
    equal decoding every row on its own (where nothing is ever dropped)."""
    from seqcvae.models.cvae import CVAEShape

    torch.manual_seed(seed)
    shape = CVAEShape(
        vocab_size=12, num_continuous=1, tag_sizes=[], embedding_dim=8, encoder_hidden=8,
        decoder_hidden=16, latent_dim=4, condition_dim=4, decoder=decoder, heads=2, max_positions=40,
    )  # fmt: skip
    model = CVAE(shape).eval()
    with torch.no_grad():  # make <eos> (id 2) likelier so that rows finish at different steps
        model.decoder.out.bias[2] += bump
    z = torch.randn(24, 4) * z_scale
    c = model.embed_conditions(torch.randn(24, 1), torch.ones(24, 1), torch.zeros(24, 0, dtype=torch.long))
    settings = SamplingSettings(strategy="greedy", max_length=30)
    batch = decode_tokens(model, z, c, settings)
    lengths = [int((row != 0).sum()) for row in batch]
    # rows really did finish at different steps, enough of them early for the state to shrink
    assert sum(n < max(lengths) for n in lengths) >= 6
    for i in range(24):
        alone = decode_tokens(model, z[i : i + 1], c[i : i + 1], settings)[0]
        n = alone.shape[0]
        assert batch[i, :n].tolist() == alone.tolist() and not batch[i, n:].any()
