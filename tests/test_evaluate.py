"""`seqcvae evaluate` for SMILES runs and SMILES files; reconstruction accuracy; per-epoch diagnostics."""

import csv
import json
import math

import pytest
import torch

from seqcvae.cli import main
from seqcvae.data.splits import prepare_run_data
from seqcvae.evaluation.diagnostics import _exact_reconstructions, evaluate_model
from seqcvae.generation.generator import Generator
from seqcvae.models.checkpoint import load_checkpoint
from tests.conftest import read_sample


def _strict(text: str) -> dict:
    def reject(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _greedy_round_trips(run, n: int) -> int:
    """How many of the first n validation molecules greedy decoding from their posterior mean
    gives back exactly, counted through the public Generator API (strings, not token ids)."""
    gen = Generator.load(run)
    part = prepare_run_data(gen.config, gen.tokenizer.to_dict(), gen.conditions.to_dict()).val_data
    smiles = part.sequences[:n]
    conditions = [{name: float(col[i]) for name, col in part.columns.items()} for i in range(n)]
    z = gen.encode(smiles, conditions)
    settings = gen.default_settings(strategy="greedy")
    decoded = gen.sample_sequences(conditions, settings=settings, z=z)
    return sum(a == b for a, b in zip(decoded, smiles))


def test_evaluate_smiles_run_reports_diagnostics_and_moses_metrics(tiny_run, capsys):
    args = ["evaluate", "--checkpoint", str(tiny_run), "--n", "64", "--k", "2"]
    rc = main([*args, "--max-sequences", "40", "--no-fcd", "--workers", "1", "--json"])
    assert rc == 0
    report = _strict(capsys.readouterr().out)
    d = report["diagnostics"]
    assert d["sequences"] == 40  # --max-sequences
    assert d["recon_accuracy"] == pytest.approx(_greedy_round_trips(tiny_run, 40) / 40)
    assert d["iw_nll"] <= d["nelbo"] + 1e-3  # the IW bound is tighter than the ELBO
    assert d["nelbo"] == pytest.approx(d["rec"] + d["kl"])
    moses = report["samples"]["moses"]
    for key in ("valid", "unique@1000", "SNN/Test", "Frag/Test", "IntDiv", "Filters", "logP", "Novelty"):
        assert key in moses
    assert moses["valid"] == pytest.approx(report["samples"]["validity"])
    assert moses["FCD/Test"] is None  # --no-fcd: NaN, written as null


def test_evaluate_smiles_file_table_and_json(tmp_path, capsys):
    rows = read_sample(60)
    gen = tmp_path / "gen.smi"
    gen.write_text("\n".join([r["SMILES"] for r in rows[:30]] + ["", "C1CC", rows[0]["SMILES"]]) + "\n")
    ref = tmp_path / "ref.csv"
    ref.write_text("SMILES\n" + "\n".join(r["SMILES"] for r in rows[30:]) + "\n")
    train = tmp_path / "train.smi"
    train.write_text("\n".join(r["SMILES"] for r in rows[:10]) + "\n")
    args = ["evaluate", "--smiles", str(gen), "--reference", f"Test={ref}", "--train", str(train)]
    assert main([*args, "--no-fcd", "--workers", "1"]) == 0
    table, err = capsys.readouterr()
    assert "MOSES metrics" in table and "SNN/Test" in table and "Novelty" in table
    # the first use of a reference file says its statistics are computed once, the second is quiet
    assert f"reference statistics of {ref} are not cached" in err, err
    out = tmp_path / "report.json"
    assert main([*args, "--no-fcd", "--workers", "1", "--json", "--out", str(out)]) == 0
    printed, err = capsys.readouterr()
    assert "not cached" not in err
    report = _strict(printed)
    assert _strict(out.read_text()) == report
    m = report["moses"]
    assert m["valid"] == pytest.approx(31 / 33)  # blank line and C1CC are invalid
    assert m["unique@1000"] == pytest.approx(30 / 31)  # one repeat among the valid ones
    assert m["Novelty"] == pytest.approx(20 / 30)  # 10 of the 30 distinct are training molecules


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--column", "smi"], "has no column 'smi'"),
        (["--workers", "0"], "--workers 0"),
        (["--reference", "=x.csv"], "not FILE or NAME=FILE"),
        (["--reference", "missing.csv"], "does not exist"),
    ],
)
def test_evaluate_bad_input_is_a_clear_error(tmp_path, capsys, extra, message):
    table = tmp_path / "gen.csv"
    table.write_text("SMILES\nCCO\n")
    assert main(["evaluate", "--smiles", str(table), "--no-fcd", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_metrics_csv_gains_diagnostics_each_validation(tiny_run):
    """Each validation row holds the diagnostics of the model at that step: the last one those of
    the `last` checkpoint on the validation split (the parts that draw no random numbers exactly)."""
    with open(tiny_run / "metrics.csv") as fh:
        val = [r for r in csv.DictReader(fh) if r["split"] == "val"]
    gen = Generator.load(tiny_run, which="last")
    assert val and int(val[-1]["step"]) == load_checkpoint(tiny_run, which="last").meta["step"]
    t = gen.config.train
    ds = prepare_run_data(gen.config, gen.tokenizer.to_dict(), gen.conditions.to_dict()).val
    d = evaluate_model(gen.model, ds, k=t.val_iw_samples, max_sequences=t.val_max_sequences)
    last = val[-1]
    assert float(last["kl"]) == pytest.approx(d["kl"], rel=1e-5)
    assert int(last["active_units"]) == d["active_units"]
    assert float(last["recon_accuracy"]) == pytest.approx(d["recon_accuracy"])
    n = min(len(ds), t.val_max_sequences)
    for r in val:  # x uniform over n sequences: 0 <= I(x; z) <= log n, up to Monte Carlo noise
        assert -0.1 < float(r["mutual_info"]) <= math.log(n)
        assert float(r["nelbo"]) == pytest.approx(float(r["rec"]) + float(r["kl"]), rel=1e-4)


def test_exact_reconstruction_counts_whole_sequences(monkeypatch):
    """Greedy output vs targets (both padded after <eos>=2): only whole-sequence matches count."""
    import seqcvae.evaluation.diagnostics as diagnostics

    targets = torch.tensor([[5, 6, 2, 0], [7, 2, 0, 0], [5, 5, 5, 2], [4, 2, 0, 0], [6, 6, 2, 0]])
    decoded = torch.tensor(
        [
            [5, 6, 2, 0, 0],  # same, extra padding: a match
            [7, 2, 0, 0, 0],  # a match
            [5, 5, 5, 5, 5],  # ran past the target's <eos>: no match
            [4, 3, 2, 0, 0],  # one token differs: no match
            [6, 6, 2, 0, 0],  # a match
        ]
    )
    seen = {}

    def fake_decode(model, z, c, settings):
        seen["max_length"] = settings.max_length
        seen["strategy"] = settings.strategy
        return decoded

    monkeypatch.setattr(diagnostics, "decode_tokens", fake_decode)
    assert _exact_reconstructions(None, torch.zeros(5, 2), torch.zeros(5, 1), targets) == 3  # type: ignore[arg-type]
    assert seen == {"max_length": 4, "strategy": "greedy"}  # long enough to overrun the target


@pytest.mark.parametrize(
    "make, extra, message",
    [
        (lambda p: p.write_text("SMILES\n"), [], "has no rows"),
        (lambda p: p.write_text("SMILES\nCCO\n"), ["--out", "/nonexistent-dir/x.json"], "does not exist"),
        (lambda p: p.write_text("SMILES\nCCO\n"), ["--k", "0"], "--k 0"),
        (lambda p: p.write_text("SMILES\nCCO\n"), ["--max-sequences", "-5"], "--max-sequences -5"),
    ],
)
def test_evaluate_more_bad_input(tmp_path, capsys, make, extra, message):
    table = tmp_path / "gen.csv"
    make(table)
    assert main(["evaluate", "--smiles", str(table), "--no-fcd", "--workers", "1", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def _smiles_table(path, rows) -> None:
    path.write_text("SMILES,LogP\n" + "".join(f"{r['SMILES']},{r['LogP']}\n" for r in rows))


def _spy_sampling(monkeypatch) -> list:
    """Record what each sampling call asked the model for (requests and settings)."""
    from seqcvae.generation.generator import Generator

    calls: list = []
    original = Generator.sample_batches  # what sample_sequences and generate_batches draw through

    def spy(self, requests, seed=0, batch_size=1000, settings=None, z=None):
        calls.append((list(requests), settings))
        return original(self, requests, seed, batch_size, settings, z)

    monkeypatch.setattr(Generator, "sample_batches", spy)
    return calls


def test_evaluate_moses_protocol_samples_unconditionally_at_t1(tiny_run, tmp_path, capsys, monkeypatch):
    rows = read_sample(400)
    test, scaffolds = tmp_path / "test.csv", tmp_path / "test_scaffolds.csv"
    _smiles_table(test, rows[300:340])
    _smiles_table(scaffolds, rows[340:380])
    calls = _spy_sampling(monkeypatch)
    args = ["evaluate", "--checkpoint", str(tiny_run), "--protocol", "moses", "--n", "24"]
    args += ["--test", str(test), "--test-scaffolds", str(scaffolds)]
    args += ["--k", "2", "--max-sequences", "20", "--no-fcd", "--workers", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"MOSES protocol (unconditional, T=1, 24 samples, test: {test}" in text
    assert "not comparable" not in text
    requests = [r for reqs, _ in calls for r in reqs]
    assert len(requests) == 24 and all(r == {} for r in requests)  # every condition unspecified
    settings = {(s.strategy, s.temperature, s.top_k, s.top_p) for _, s in calls}
    assert settings == {("sample", 1.0, 0, 1.0)}
    assert main([*args, "--json"]) == 0
    report = _strict(capsys.readouterr().out)
    s = report["samples"]
    assert s["protocol"]["name"] == "moses" and s["protocol"]["n"] == 24
    assert s["protocol"]["test"] == str(test) and s["protocol"]["test_scaffolds"] == str(scaffolds)
    for key in ("SNN/Test", "SNN/TestSF", "Frag/TestSF", "Novelty"):
        assert key in s["moses"]


def test_evaluate_default_is_labelled_conditional(tiny_run, capsys, monkeypatch):
    calls = _spy_sampling(monkeypatch)
    args = ["evaluate", "--checkpoint", str(tiny_run), "--n", "16", "--k", "2", "--max-sequences", "20"]
    assert main([*args, "--no-fcd", "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "conditional samples under held-out conditions (T=0.8, top-p=0.95, N=16)" in text
    assert "not comparable with MOSES tables" in text
    assert "MOSES protocol" not in text
    requests = [r for reqs, _ in calls for r in reqs]
    assert requests and all(set(r) == {"LogP", "MolWt"} for r in requests)


def test_evaluate_protocol_defaults(monkeypatch, capsys):
    """30,000 samples and the MOSES test split by default; 1,000 conditional samples otherwise."""
    import seqcvae.evaluation.report as report

    seen: list[dict] = []

    def fake(checkpoint, **kw):
        seen.append(kw)
        raise SystemExit(0)

    monkeypatch.setattr(report, "evaluate_run", fake)
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", "run", "--protocol", "moses"])
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", "run"])
    moses, conditional = seen
    assert moses["n_samples"] == 30_000 and moses["protocol"] == "moses"
    assert conditional["n_samples"] == 1000 and conditional["protocol"] == "conditional"
    test = moses["references"]["Test"]
    assert test.endswith(("moses_full/test.csv.gz", "moses_sample/test.csv.gz"))
    from pathlib import Path

    assert Path(test).exists()
    from seqcvae.cli import build_parser

    help_text = build_parser()._subparsers._group_actions[0].choices["evaluate"].format_help()  # type: ignore[union-attr]
    assert "MOSES uses 10000" not in help_text and "30000" in help_text.replace(",", "")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--test", "t.csv"], "--test is for --protocol moses"),
        (["--protocol", "moses", "--reference", "t.csv"], "--reference is for --protocol conditional"),
        (["--protocol", "moses", "--test", "missing.csv", "--n", "4"], "does not exist"),
    ],
)
def test_evaluate_protocol_bad_input(tiny_run, capsys, extra, message):
    args = ["evaluate", "--checkpoint", str(tiny_run), "--k", "2", "--max-sequences", "10", "--no-fcd"]
    assert main([*args, "--workers", "1", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_evaluate_says_when_it_must_check_the_runs_data_first(tiny_run, tmp_path, capsys, monkeypatch):
    """The held-out split of a run comes from its whole data file; with nothing cached (a run
    trained on another machine, or on 1.58 M molecules) that check takes long, so it is named
    before it starts, and names the file."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    args = ["evaluate", "--checkpoint", str(tiny_run), "--n", "0", "--k", "2", "--max-sequences", "10"]
    assert main(args) == 0
    err = capsys.readouterr().err
    train_path = json.loads((tiny_run / "config.json").read_text())["data"]["train_path"]
    assert "data: checking" in err and str(train_path) in err
    assert main(args) == 0  # cached now: nothing to announce
    assert "data: checking" not in capsys.readouterr().err
