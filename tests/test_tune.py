"""Property-consistency tuning (seqcvae.tuning.consistency, `seqcvae tune`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seqcvae.chem.mol import mol_from_smiles
from seqcvae.chem.properties import compute_properties
from seqcvae.cli import main
from seqcvae.errors import ConfigError
from seqcvae.generation.generator import Generator
from seqcvae.generation.sampling import decode_tokens
from seqcvae.tokenizers.base import EOS, NEVER_SAMPLED, PAD
from seqcvae.tuning.consistency import (
    ConsistencyTuner,
    leave_one_out,
    peak_penalty,
    sequence_log_probs,
)
from seqcvae.tuning.settings import TuneSettings
from tests.conftest import SAMPLE

TEXT_RUN = Path(__file__).parent / "fixtures" / "ckpt_b4cbcff_text_tiny"


def tuner_for(run: Path, **settings: object) -> ConsistencyTuner:
    gen = Generator.load(run)
    names = [c.name for c in gen.conditions.continuous]
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]
    targets = np.array([[compute_properties(mol_from_smiles(s), names)[n] for n in names] for s in smiles])
    return ConsistencyTuner(gen.model, gen.tokenizer, gen.conditions, targets, TuneSettings(**settings))


def test_leave_one_out_subtracts_the_mean_of_the_others():
    r = torch.tensor([1.0, 2.0, 3.0, 7.0, 0.0, 0.0])
    assert leave_one_out(r, 2).tolist() == [-1.0, 1.0, -4.0, 4.0, 0.0, 0.0]
    assert leave_one_out(r, 3).tolist() == pytest.approx([-1.5, 0.0, 1.5, 7.0, -3.5, -3.5])


def test_peak_penalty_charges_the_nats_above_its_floor():
    lp = torch.tensor([-20.0, -12.0, -11.0, -7.5])
    assert peak_penalty(lp, 12.0, 0.1).tolist() == pytest.approx([0.0, 0.0, 0.1, 0.45])
    assert peak_penalty(lp, 0.0, 0.1).tolist() == [0.0] * 4  # off


def test_unconditional_samples_may_have_their_own_kl_penalty(tiny_run):
    present = np.array([[1, 0], [0, 0], [0, 1]], dtype=np.float32)
    assert tuner_for(tiny_run, kl_weight=0.02).kl_weights(present).tolist() == pytest.approx([0.02] * 3)
    held = tuner_for(tiny_run, kl_weight=0.02, unconditional_kl_weight=0.5)
    assert held.kl_weights(present).tolist() == pytest.approx([0.02, 0.5, 0.02])


def test_the_peak_penalty_spreads_the_mass_of_the_likeliest_samples(tiny_run, one_thread, monkeypatch):
    """With every sample rewarded alike, only the peak penalty moves the model: the share of
    samples above its floor (set at the starting model's median log-probability) falls."""
    monkeypatch.setattr(
        ConsistencyTuner,
        "rewards",
        lambda self, smiles, finished, raw, present: (
            np.zeros(len(smiles)),
            np.ones(len(smiles), bool),
            np.full(raw.shape, np.nan),
            [None] * len(smiles),
        ),
    )
    probe = tuner_for(tiny_run)
    c = probe.model.unspecified_conditions(256)
    z = torch.randn(256, probe.model.shape.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ids = decode_tokens(probe.model, z, c, probe.sampling, seed=3)
        floor = -float(sequence_log_probs(probe.model, ids, z, c).median())
    tuner = tuner_for(
        tiny_run,
        conditions_per_step=64,
        samples_per_condition=4,
        lr=3e-3,
        kl_weight=0.0,
        seed=1,
        peak_nats=floor,
        peak_weight=1.0,
    )
    first = np.mean([tuner.step().peaked for _ in range(3)])
    for _ in range(20):
        tuner.step()
    last = np.mean([tuner.step().peaked for _ in range(3)])
    assert first > 0.3 and last < first - 0.15, (first, last)


def test_sequence_log_probs_equal_the_decoding_steps(tiny_run, one_thread):
    gen = Generator.load(tiny_run)
    model = gen.model
    torch.manual_seed(0)
    c = model.unspecified_conditions(3)
    z = torch.randn(3, model.shape.latent_dim)
    ids = torch.tensor([[5, 6, EOS, PAD], [4, EOS, PAD, PAD], [5, 5, 5, EOS]])
    got = sequence_log_probs(model, ids, z, c)
    state = model.decoder.start(torch.cat([z, c], dim=-1))
    token = torch.full((3,), 1)  # <bos>
    want = torch.zeros(3)
    for t in range(ids.shape[1]):
        logits, state = model.decoder.step(model.embedding(token), state)
        logits[:, NEVER_SAMPLED] = float("-inf")  # as sampling does
        lp = logits.log_softmax(-1).gather(1, ids[:, t : t + 1]).squeeze(1)
        want += torch.where(ids[:, t] != PAD, lp, torch.zeros(3))
        token = ids[:, t]
    assert torch.allclose(got, want, atol=1e-4)


def test_rewards_are_the_error_in_training_stds_and_invalid_is_penalised(tiny_run):
    tuner = tuner_for(tiny_run, invalid_reward=-5.0)
    names = tuner.names
    props = compute_properties(mol_from_smiles("CCO"), names)
    exact = np.array([props[n] for n in names])
    off = exact + tuner.stds * np.array([1.0] + [0.0] * (len(names) - 1))  # 1 std off in the first
    raw = np.stack([exact, off, off, exact, exact])
    present = np.ones_like(raw)
    present[2, 1:] = 0  # only the first property given: its whole error counts
    present[4] = 0  # nothing given: validity alone
    finished = np.array([True, True, True, True, True])
    smiles = ["CCO", "CCO", "CCO", "C1CC", "CCO"]
    reward, valid, err, canon = tuner.rewards(smiles, finished, raw, present)
    assert reward[0] == pytest.approx(0.0, abs=1e-9)
    assert reward[1] == pytest.approx(-1.0 / len(names))
    assert reward[2] == pytest.approx(-1.0)
    assert reward[3] == -5.0 and not valid[3] and canon[3] is None
    assert reward[4] == 0.0 and np.isnan(err[4]).all()
    unfinished = tuner.rewards(["CCO"], np.array([False]), raw[:1], present[:1])[0]
    assert unfinished[0] == -5.0


def test_drawn_conditions_give_at_least_one_property_unless_unconditional(tiny_run):
    tuner = tuner_for(tiny_run, unconditional_fraction=0.0, property_probability=0.3)
    raw, present = tuner.draw_conditions(4000)
    assert (present.sum(axis=1) >= 1).all()
    k = len(tuner.names)  # 0.3 each, and one more where none was drawn ((0.7)^k of rows)
    assert abs(present.mean() - (0.3 + 0.7**k / k)) < 0.02
    assert {tuple(r) for r in raw} <= {tuple(t) for t in tuner.targets}
    tuner = tuner_for(tiny_run, unconditional_fraction=0.25, property_probability=0.3)
    given = tuner.draw_conditions(4000)[1].sum(axis=1)
    assert 0.2 < (given == 0).mean() < 0.3


def test_even_targets_spread_the_draws_over_each_propertys_range(tiny_run):
    """--even-targets F: a share F of the targets is drawn evenly over one property's range
    (1st to 99th percentile of the targets), so the tails of a skewed property come up as often
    as its middle; the rows stay real target rows, and with F = 0 the draws are as before."""
    gen = Generator.load(tiny_run)
    k = gen.conditions.num_continuous
    rng = np.random.default_rng(0)
    latent = rng.exponential(size=20000)  # skewed: most rows near 0, a long upper tail
    targets = np.stack([latent * (j + 1) for j in range(k)], axis=1)
    q90 = np.quantile(targets[:, 0], 0.9)

    def draw(**settings: object) -> tuple[np.ndarray, np.ndarray]:
        settings = {"unconditional_fraction": 0.0, **settings}
        tuner = ConsistencyTuner(gen.model, gen.tokenizer, gen.conditions, targets, TuneSettings(**settings))
        return tuner.draw_conditions(4000)

    plain, _ = draw()
    even, present = draw(even_fraction=1.0)
    assert 0.08 < (plain[:, 0] > q90).mean() < 0.12
    assert (even[:, 0] > q90).mean() > 0.4  # uniform over [q1, q99]: about half above q90
    assert {tuple(r) for r in even} <= {tuple(t) for t in targets}
    assert (present.sum(axis=1) >= 1).all()
    half, _ = draw(even_fraction=0.5)
    assert 0.2 < (half[:, 0] > q90).mean() < 0.35
    np.testing.assert_array_equal(draw(even_fraction=0.0)[0], plain)


def test_samples_are_drawn_from_the_models_prior(tiny_run, monkeypatch):
    """A conditional prior's z come from p(z | c), as generation draws them."""
    tuner = tuner_for(tiny_run, conditions_per_step=2)
    calls = []
    original = type(tuner.model).prior_from_noise

    def spy(self, c, eps):
        calls.append(eps.shape)
        return original(self, c, eps)

    monkeypatch.setattr(type(tuner.model), "prior_from_noise", spy)
    tuner.step()
    assert calls and calls[0][0] == 2 * tuner.s.samples_per_condition


def test_the_policy_gradient_raises_what_is_rewarded_and_leaves_the_encoder(
    tiny_run, one_thread, monkeypatch
):
    """With a reward for samples that start with 'C' (the tokenizer's "C"), tuning makes the model
    start more samples with it; encoder and shared embedding are untouched."""
    tuner = tuner_for(
        tiny_run, conditions_per_step=32, samples_per_condition=4, lr=3e-3, kl_weight=0.0, seed=1
    )
    gen_tok = tuner.tokenizer

    def first_is_c(self, smiles, finished, raw, present):
        reward = np.array([1.0 if s.startswith("C") else 0.0 for s in smiles])
        return reward, np.ones(len(smiles), bool), np.full(raw.shape, np.nan), [None] * len(smiles)

    monkeypatch.setattr(ConsistencyTuner, "rewards", first_is_c)
    encoder_before = {k: v.clone() for k, v in tuner.model.encoder.state_dict().items()}
    embedding_before = tuner.model.embedding.weight.detach().clone()

    def share_c() -> float:
        torch.manual_seed(123)
        c = tuner.model.unspecified_conditions(400)
        z = torch.randn(400, tuner.model.shape.latent_dim)
        from seqcvae.generation.sampling import decode_tokens

        ids = decode_tokens(tuner.model, z, c, tuner.sampling, seed=5)
        return float(np.mean([gen_tok.decode(r).startswith("C") for r in ids.tolist()]))

    before = share_c()
    for _ in range(25):
        tuner.step()
    after = share_c()
    assert after > before + 0.2, (before, after)
    for k, v in tuner.model.encoder.state_dict().items():
        assert torch.equal(v, encoder_before[k]), k
    assert torch.equal(tuner.model.embedding.weight, embedding_before)


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="samples_per_condition=1"):
        TuneSettings(samples_per_condition=1).validate()
    with pytest.raises(ConfigError, match="lr=0"):
        TuneSettings(lr=0).validate()


def test_cli_tune_writes_a_run_that_generates(tiny_run, tmp_path, capsys):
    out = tmp_path / "tuned"
    args = ["tune", "--checkpoint", str(tiny_run), "--out", str(out), "--targets", str(SAMPLE)]
    assert main([*args, "--target-rows", "50", "--steps", "3", "--conditions", "4", "--save-every", "2"]) == 0
    err = capsys.readouterr().err
    assert "step 3" in err and "wrote the tuned model" in err
    meta = json.loads((out / "checkpoints" / "last" / "meta.json").read_text())
    assert meta["step"] == 3 and meta["init_from"]["checkpoint"] == str(
        Path(tiny_run).resolve() / "checkpoints" / "best"
    )
    assert len(meta["init_from"]["weights_sha256"]) == 64 and meta["tuning"]["steps"] == 3
    assert "metrics" not in meta and set(meta["tuning"]["metrics"]) >= {"reward", "validity", "kl"}
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,reward,validity,kl,unique") and len(rows) == 3  # header, steps 2 and 3
    assert main(["generate", "--checkpoint", str(out), "--n", "5", "-c", "LogP=2"]) == 0
    capsys.readouterr()
    assert main(["info", "--checkpoint", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "tuned       step 3," in shown and "property-consistency tuning (lr 0.0001" in shown
    assert f"tuned       from {Path(tiny_run).resolve() / 'checkpoints' / 'best'} (its step" in shown
    # a second run into the same directory is refused, the first kept
    assert main([*args, "--steps", "1"]) == 2
    assert "already has checkpoints" in capsys.readouterr().err
    assert (out / "checkpoints" / "last" / "meta.json").exists()


def test_cli_tune_records_the_peak_penalty_and_the_unconditional_kl(tiny_run, tmp_path, capsys):
    out = tmp_path / "tuned"
    args = ["tune", "--checkpoint", str(tiny_run), "--out", str(out), "--targets", str(SAMPLE)]
    args += ["--target-rows", "50", "--steps", "2", "--conditions", "4", "--peak-nats", "12"]
    assert main([*args, "--peak-weight", "0.2", "--unconditional-kl", "0.5", "--even-targets", "0.5"]) == 0
    assert "peaked " in capsys.readouterr().err
    assert (out / "metrics.csv").read_text().splitlines()[0].endswith(",peaked,elapsed_s")
    assert main(["info", "--checkpoint", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "KL weight 0.05 (0.5 unconditional), peak penalty 0.2 per nat above log p -12" in shown
    assert "50% drawn evenly over one property's range" in shown


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--samples", "1"], "samples_per_condition=1"),
        (["--target-rows", "0"], "--target-rows 0"),
        (["--targets", "MISSING.csv"], "MISSING.csv"),
        (["--conditions", "0"], "conditions_per_step=0 (--conditions)"),
        (["--minutes", "-1"], "max_minutes=-1.0 (--minutes)"),
        (["--lr", "inf"], "lr=inf (--lr)"),
        (["--peak-nats", "-1"], "peak_nats=-1.0 (--peak-nats)"),
        (["--unconditional-kl", "-1"], "unconditional_kl_weight=-1.0 (--unconditional-kl)"),
        (["--peak-weight", "nan"], "peak_weight=nan (--peak-weight)"),
        (["--even-targets", "1.5"], "even_fraction=1.5 (--even-targets)"),
    ],
)
def test_cli_tune_bad_input_is_one_line(tiny_run, tmp_path, capsys, extra, message):
    args = ["tune", "--checkpoint", str(tiny_run), "--out", str(tmp_path / "t"), "--targets", str(SAMPLE)]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_cli_tune_refuses_a_text_model_and_invalid_targets(tmp_path, capsys, tiny_run):
    args = ["tune", "--out", str(tmp_path / "t"), "--targets", str(SAMPLE)]
    assert main([*args, "--checkpoint", str(TEXT_RUN)]) == 2
    assert "needs a SMILES model" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("SMILES\nC(((\nxyz\n")
    assert (
        main(["tune", "--out", str(tmp_path / "u"), "--checkpoint", str(tiny_run), "--targets", str(bad)])
        == 2
    )
    assert "no valid SMILES" in capsys.readouterr().err


def test_the_anchor_trains_the_decoder_on_real_molecules(tiny_run, one_thread, monkeypatch):
    """With every reward equal (no policy gradient), the anchor alone is maximum likelihood on its
    molecules: their NLL falls."""
    from seqcvae.recipes.tune import anchor_dataset, read_targets

    gen = Generator.load(tiny_run)
    names = [c.name for c in gen.conditions.continuous]
    smiles, targets = read_targets(str(SAMPLE), names, 64)
    anchor = anchor_dataset(gen, smiles, targets, 100)
    assert 0 < len(anchor) <= 64
    settings = TuneSettings(conditions_per_step=4, lr=3e-3, anchor_weight=1.0, anchor_batch=32, seed=2)
    tuner = ConsistencyTuner(gen.model, gen.tokenizer, gen.conditions, targets, settings, anchor)

    def flat(self, smiles, finished, raw, present):
        n = len(smiles)
        return np.zeros(n), np.ones(n, bool), np.full(raw.shape, np.nan), [None] * n

    monkeypatch.setattr(ConsistencyTuner, "rewards", flat)
    first = [tuner.step().anchor_nll for _ in range(3)]
    for _ in range(20):
        tuner.step()
    last = [tuner.step().anchor_nll for _ in range(3)]
    assert np.mean(last) < np.mean(first) - 1.0, (first, last)
    with pytest.raises(ConfigError, match="needs anchor molecules"):
        ConsistencyTuner(gen.model, gen.tokenizer, gen.conditions, targets, settings, None)


def test_decoder_only_leaves_the_condition_embedder_and_so_the_posterior(tiny_run, one_thread):
    """--decoder-only: the condition embedding (which also feeds q(z | x, c)) stays as it was."""
    tuner = tuner_for(tiny_run, conditions_per_step=8, lr=3e-3, kl_weight=0.0, decoder_only=True, seed=3)
    condition_before = {k: v.clone() for k, v in tuner.model.condition.state_dict().items()}
    decoder_before = {k: v.clone() for k, v in tuner.model.decoder.state_dict().items()}
    for _ in range(3):
        tuner.step()
    for k, v in tuner.model.condition.state_dict().items():
        assert torch.equal(v, condition_before[k]), k
    assert any(not torch.equal(v, decoder_before[k]) for k, v in tuner.model.decoder.state_dict().items())
    assert all(p.grad is None for p in tuner.model.condition.parameters())


def test_cli_tune_with_an_anchor_logs_its_nll(tiny_run, tmp_path, capsys):
    out = tmp_path / "anchored"
    args = [
        "tune",
        "--checkpoint",
        str(tiny_run),
        "--out",
        str(out),
        "--targets",
        str(SAMPLE),
        "--anchor",
        "0.5",
    ]
    assert main([*args, "--target-rows", "40", "--steps", "2", "--conditions", "4", "--save-every", "2"]) == 0
    assert "anchor NLL" in capsys.readouterr().err
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "anchor_nll" in header
    assert (
        json.loads((out / "checkpoints" / "last" / "meta.json").read_text())["tuning"]["anchor_weight"] == 0.5
    )


def test_cli_tune_overwrite_keeps_the_old_run_when_the_input_is_bad(tiny_run, tmp_path, capsys):
    out = tmp_path / "tuned"
    args = ["tune", "--checkpoint", str(tiny_run), "--out", str(out), "--targets", str(SAMPLE)]
    assert main([*args, "--target-rows", "20", "--steps", "1", "--conditions", "2"]) == 0
    capsys.readouterr()
    bad = ["tune", "--checkpoint", str(tiny_run), "--out", str(out), "--overwrite"]
    assert main([*bad, "--targets", str(tmp_path / "missing.csv")]) == 2
    assert main([*bad, "--targets", str(SAMPLE), "--column", "NOPE"]) == 2
    assert (out / "checkpoints" / "last" / "meta.json").exists()
    # the tuned run itself as --out: refused before anything is removed
    again = ["tune", "--checkpoint", str(out), "--out", str(out), "--overwrite", "--targets", str(SAMPLE)]
    assert main(again) == 2
    assert "holds the checkpoint being tuned" in capsys.readouterr().err
    assert (out / "checkpoints" / "last" / "meta.json").exists()
    header = (out / "metrics.csv").read_text().splitlines()[0]
    assert header == "step,reward,validity,kl,unique,mae_LogP,mae_MolWt,elapsed_s"


def test_cli_tune_interrupted_saves_the_steps_done(tiny_run, tmp_path, capsys, monkeypatch):
    """Ctrl-C between checkpoints keeps the steps done so far in checkpoints/last."""
    real_step = ConsistencyTuner.step

    def step_then_interrupt(self):
        if self.step_count == 3:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(ConsistencyTuner, "step", step_then_interrupt)
    out = tmp_path / "tuned"
    args = ["tune", "--checkpoint", str(tiny_run), "--out", str(out), "--targets", str(SAMPLE)]
    assert main([*args, "--target-rows", "20", "--steps", "10", "--conditions", "2"]) == 130
    err = capsys.readouterr().err
    assert "interrupted at step 3: saved checkpoints/last" in err, err
    assert json.loads((out / "checkpoints" / "last" / "meta.json").read_text())["step"] == 3
    assert len((out / "metrics.csv").read_text().splitlines()) == 2  # header and the steps done
    assert main(["generate", "--checkpoint", str(out), "--n", "3"]) == 0
