"""Property sweeps: spec parsing, the `seqcvae sweep` command, resuming, sharding, plots, memory."""

import csv
import gc
import json
import math
import multiprocessing
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqcvae.cli import main
from seqcvae.data.conditions import DEFAULT_TOLERANCE_FRACTION
from seqcvae.data.splits import prepare_run_data
from seqcvae.errors import ConfigError, SeqCVAEError
from seqcvae.generation.generator import Generator
from seqcvae.generation.records import Record
from seqcvae.sweep import SweepSpec, load_spec, parse_values, plan_sweep, run_sweep
from seqcvae.sweep.parts import merge
from seqcvae.sweep.plan import SweepPlan
from seqcvae.sweep.runner import run_targets
from seqcvae.sweep.summary import summarise_target
from seqcvae.text.metrics import distinct_n

MB = 1_000_000


def _sweep(run, out, *extra):
    return main(["sweep", "--checkpoint", str(run), "--out", str(out), *extra])


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def tiny_gen(tiny_run):
    return Generator.load(tiny_run)


# --- spec parsing ---------------------------------------------------------------------------


def test_parse_range_list_and_tags():
    values = parse_values("LogP", "-1:5:13")
    assert len(values) == 13
    assert values[0] == -1.0 and values[-1] == 5.0
    steps = {round(b - a, 9) for a, b in zip(values, values[1:])}
    assert steps == {0.5}
    assert parse_values("MolWt", "250,350") == [250.0, 350.0]
    assert parse_values("MolWt", " 250 , 350 ,") == [250.0, 350.0]
    assert parse_values("sentiment", "pos,neg") == ["pos", "neg"]
    assert parse_values("LogP", 2) == [2.0]
    assert parse_values("LogP", "2.5") == [2.5]
    assert parse_values("LogP", [1, "2", 3.5]) == [1.0, 2.0, 3.5]
    assert parse_values("LogP", "3:3:1") == [3.0]


def test_toml_range_table_grid_and_fixed(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        "n = 7\nseed = 3\n"
        "[targets]\nLogP = {start = 0, stop = 2, steps = 3}\nMolWt = [250, 350]\n"
        "[fixed]\nQED = 0.8\n"
        "[tolerance]\nLogP = 0.5\n"
        "[sample]\ntemperature = 0.7\n",
        encoding="utf-8",
    )
    spec = load_spec(path)
    assert spec.targets == {"LogP": [0.0, 1.0, 2.0], "MolWt": [250.0, 350.0]}
    assert (spec.n, spec.seed, spec.tolerance, spec.sample) == (7, 3, {"LogP": 0.5}, {"temperature": 0.7})
    grid = spec.grid()
    assert [(r["LogP"], r["MolWt"]) for r in grid] == [
        (0.0, 250.0),
        (0.0, 350.0),
        (1.0, 250.0),
        (1.0, 350.0),
        (2.0, 250.0),
        (2.0, 350.0),
    ]
    assert all(r["QED"] == 0.8 for r in grid)
    # grid() hands out fresh dicts: editing one request must not change the spec or the others
    grid[0]["LogP"] = 99.0
    assert spec.grid()[0]["LogP"] == 0.0


def test_cli_overrides_merge_over_toml(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        "n = 50\nseed = 4\nimages = 3\n"
        "[targets]\nLogP = [1, 2]\n"
        "[tolerance]\nLogP = 0.5\n"
        "[sample]\ntemperature = 0.7\n",
        encoding="utf-8",
    )
    spec = load_spec(
        path,
        {
            "targets": {"MolWt": "250,350"},
            "fixed": {},
            "tolerance": {"MolWt": 10.0},
            "sample": {"top_k": 5},
            "n": 8,
            "seed": None,  # not given on the command line: the file's value stays
            "images": None,
            "sdf": True,
        },
    )
    assert spec.targets == {"LogP": [1.0, 2.0], "MolWt": [250.0, 350.0]}
    assert spec.tolerance == {"LogP": 0.5, "MolWt": 10.0}
    assert spec.sample == {"temperature": 0.7, "top_k": 5}
    assert (spec.n, spec.seed, spec.images, spec.sdf) == (8, 4, 3, True)
    # an override of a key the file also sets replaces that key
    again = load_spec(path, {"targets": {"LogP": "0:1:2"}, "tolerance": {"LogP": 0.25}})
    assert again.targets == {"LogP": [0.0, 1.0]} and again.tolerance == {"LogP": 0.25}
    assert load_spec(None, {"targets": {"LogP": "1"}}).n == 100  # defaults without a file


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"targets": {"LogP": "0:1:0"}}, "steps=0"),
        ({"targets": {"LogP": {"start": 0, "stop": 1, "steps": 0}}}, "steps=0"),
        ({"targets": {"LogP": {"start": 0, "stop": 1}}}, "start, stop, steps"),
        ({"targets": {"LogP": "a:b:3"}}, "'a:b:3'"),
        ({"targets": {"LogP": "0:1:2.5"}}, "'0:1:2.5'"),
        ({"targets": {"LogP": []}}, "empty list"),
        ({"targets": {"LogP": "1"}, "colour": "red"}, "'colour'"),
        ({"targets": {"LogP": "1"}, "fixed": {"LogP": 2.0}}, "'LogP' is both swept and fixed"),
        ({"targets": {"LogP": "1"}, "tolerance": {"LogP": -0.5}}, "tolerance LogP=-0.5"),
        ({"targets": {"LogP": "1"}, "tolerance": {"LogP": 0}}, "tolerance LogP=0"),
        ({"targets": {"LogP": "1"}, "n": 0}, "n = 0 is out of range; expected a number >= 1"),
        ({"targets": {"LogP": "1"}, "n": 2.5}, "n: expected int, got 2.5"),
        ({"targets": {"LogP": "1"}, "images": -1}, "images = -1 is out of range"),
        ({"targets": {"LogP": "1"}, "sample": {"temperature": 0}}, "sample.temperature = 0.0 is out of"),
        ({"targets": {"LogP": "1"}, "sample": {"nucleus": 0.9}}, "unknown sampling setting 'sample.nucleus'"),
        ({"targets": {"LogP": "1"}, "sample": {"strategy": "best"}}, "sample.strategy: 'best' is not one"),
        ({"targets": {"LogP": [1.0, float("nan")]}}, "nan"),
        ({"targets": {"LogP": "nan"}}, "'nan'"),
        ({"targets": {"LogP": "1,inf"}}, "'inf'"),
        ({"targets": {"LogP": "nan:1:3"}}, "nan"),
        ({"targets": {}}, "at least one target"),
        ({"targets": {"LogP": "1"}, "fixed": 3}, "[fixed] must be a table"),
    ],
)
def test_bad_spec_raises_config_error_naming_the_value(data, needle):
    with pytest.raises(ConfigError) as info:
        SweepSpec.from_dict(data)
    assert needle in str(info.value)


def test_load_spec_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("n = = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_spec(bad)


def test_nan_tolerance_is_rejected():
    with pytest.raises(ConfigError, match="tolerance"):
        SweepSpec.from_dict({"targets": {"LogP": "1"}, "tolerance": {"LogP": float("nan")}})


def test_non_table_in_toml_with_cli_overrides_is_a_config_error(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text("targets = [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[targets\] must be a table"):
        load_spec(path, {"targets": {}, "fixed": {}, "tolerance": {}, "sample": {}})


def test_plan_sweep_checks_against_the_model(tiny_gen):
    plan = plan_sweep(tiny_gen, SweepSpec.from_dict({"targets": {"LogP": "0:4:3"}, "fixed": {"MolWt": 300}}))
    assert plan.continuous == ["LogP"] and plan.tags == []
    assert plan.measured == ["LogP", "MolWt"]
    # Default tolerance, as documented: 5% of the property's range over the training rows.
    prep = prepare_run_data(tiny_gen.config, tiny_gen.tokenizer.to_dict(), tiny_gen.conditions.to_dict())
    logp = prep.stores[0].columns(prep.train.rows)["LogP"]
    assert plan.tolerance["LogP"] == pytest.approx(0.05 * float(logp.max() - logp.min()))
    assert DEFAULT_TOLERANCE_FRACTION == 0.05  # the value spec.py and README document
    given = plan_sweep(tiny_gen, SweepSpec.from_dict({"targets": {"LogP": "1"}, "tolerance": {"LogP": 0.3}}))
    assert given.tolerance["LogP"] == 0.3
    assert [r["LogP"] for r in plan.requests] == [0.0, 2.0, 4.0]
    assert all(r["MolWt"] == 300 for r in plan.requests)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"targets": {"QED": "0.5"}}, "'QED'"),
        ({"targets": {"LogP": "low"}}, "'low'"),
        ({"targets": {"LogP": "1"}, "tolerance": {"MolWt": 5.0}}, "'MolWt'"),
        ({"targets": {"LogP": "1"}, "sample": {"temperature": -1.0}}, "temperature"),
        ({"targets": {"LogP": "1"}, "sample": {"beam_width": 3}}, "'sample.beam_width'"),
    ]
    for data, needle in cases:
        with pytest.raises(SeqCVAEError) as info:
            plan_sweep(tiny_gen, SweepSpec.from_dict(data))
        assert needle in str(info.value)


# --- end to end on the tiny SMILES run --------------------------------------------------------

# The tiny model's sampled SMILES are almost never valid (~1 %); greedy decoding gives valid
# (if dull) molecules, so the checks that need measured properties decode greedily.
ONE_PROPERTY = ["-t", "LogP=0:4:3", "--n", "8", "--no-plots", "--images", "0"]


def test_sweep_end_to_end(tiny_run, tiny_gen, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert _sweep(tiny_run, out, *ONE_PROPERTY, "--greedy") == 0
    printed = capsys.readouterr().out
    assert "target 3/3 LogP=4" in printed and "wrote" in printed
    spec = json.loads((out / "spec.json").read_text())
    assert spec["targets"] == {"LogP": [0.0, 2.0, 4.0]} and spec["n"] == 8
    assert spec["sample"] == {"strategy": "greedy"}
    for i in range(3):
        for ext in ("csv", "json"):
            assert (out / "parts" / f"target_{i:05d}.{ext}").is_file()
    assert not list((out / "parts").glob("*.tmp"))
    assert not (out / "plots").exists() and not (out / "molecules").exists()

    plan = plan_sweep(tiny_gen, SweepSpec.from_dict(spec))
    with open(out / "samples.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == plan.schema().columns()
    assert header == [
        "target_index",
        "index",
        "sequence",
        "canonical_smiles",
        "valid",
        "LogP",
        "MolWt",
        "target_LogP",
    ]
    samples = _rows(out / "samples.csv")
    assert len(samples) == 24
    assert [int(r["target_index"]) for r in samples] == [i for i in range(3) for _ in range(8)]
    assert [int(r["index"]) for r in samples] == list(range(8)) * 3
    assert {r["valid"] for r in samples} <= {"0", "1"}
    valid = [r for r in samples if r["valid"] == "1"]
    assert valid, "greedy decoding of the tiny model should give some valid molecules"

    # measured values are RDKit's, independently recomputed
    from rdkit import Chem
    from rdkit.Chem import Crippen, Descriptors

    for r in valid[:3] + valid[-3:]:
        mol = Chem.MolFromSmiles(r["canonical_smiles"])
        assert Chem.MolToSmiles(Chem.MolFromSmiles(r["sequence"])) == r["canonical_smiles"]
        assert float(r["LogP"]) == pytest.approx(Crippen.MolLogP(mol), rel=1e-5)
        assert float(r["MolWt"]) == pytest.approx(Descriptors.MolWt(mol), rel=1e-5)
    for r in samples:
        if r["valid"] == "0":
            assert r["canonical_smiles"] == "" and r["LogP"] == ""

    summary = _rows(out / "summary.csv")
    assert len(summary) == 3
    for col in (
        "validity",
        "uniqueness",
        "novelty",
        "LogP_mean",
        "LogP_std",
        "LogP_mae",
        "LogP_hit_rate",
        "hit_rate",
        "MolWt_mean",
    ):
        assert col in summary[0], col
    assert "MolWt_mae" not in summary[0]  # measured, but not swept
    assert [float(s["target_LogP"]) for s in summary] == [0.0, 2.0, 4.0]
    assert all(int(s["n"]) == 8 for s in summary)

    overall = json.loads((out / "overall.json").read_text())
    tol = overall["LogP"]["tolerance"]
    assert tol == pytest.approx(plan.tolerance["LogP"], rel=1e-6)

    # every target's numbers, recomputed from samples.csv
    for s in summary:
        i, target = int(s["target_index"]), float(s["target_LogP"])
        rows = [r for r in samples if int(r["target_index"]) == i]
        ok = [r for r in rows if r["valid"] == "1"]
        assert float(s["validity"]) == pytest.approx(len(ok) / len(rows))
        if not ok:
            assert s["LogP_mae"] == "" and s["hit_rate"] == ""
            continue
        logp = [float(r["LogP"]) for r in ok]
        err = [abs(x - target) for x in logp]
        assert float(s["uniqueness"]) == pytest.approx(len({r["canonical_smiles"] for r in ok}) / len(ok))
        assert float(s["LogP_mean"]) == pytest.approx(sum(logp) / len(logp), rel=1e-4)
        assert float(s["LogP_mae"]) == pytest.approx(sum(err) / len(err), rel=1e-4)
        hits = sum(e <= tol for e in err) / len(err)
        assert float(s["LogP_hit_rate"]) == pytest.approx(hits)
        assert float(s["hit_rate"]) == pytest.approx(hits)  # one swept property: the same

    assert (overall["targets"], overall["finished"], overall["n_per_target"]) == (3, 3, 8)
    logp_all = overall["LogP"]
    assert {"spearman", "mae", "hit_rate", "valid_samples"} <= set(logp_all)
    assert logp_all["valid_samples"] == len(valid)
    errs = [abs(float(r["LogP"]) - float(r["target_LogP"])) for r in valid]
    assert logp_all["mae"] == pytest.approx(sum(errs) / len(errs), rel=1e-4)
    assert logp_all["hit_rate"] == pytest.approx(sum(e <= tol for e in errs) / len(errs))
    assert overall["validity"] == pytest.approx(len(valid) / 24)


def test_spec_file_with_cli_override(tiny_run, tmp_path):
    spec_file = tmp_path / "sweep.toml"
    spec_file.write_text("n = 50\nimages = 0\n[targets]\nLogP = [1.5]\n", encoding="utf-8")
    out = tmp_path / "sweep"
    assert _sweep(tiny_run, out, "--spec", str(spec_file), "--n", "3", "--no-plots") == 0
    spec = json.loads((out / "spec.json").read_text())
    assert spec["n"] == 3 and spec["targets"] == {"LogP": [1.5]} and spec["images"] == 0
    samples = _rows(out / "samples.csv")
    assert len(samples) == 3 and {r["target_LogP"] for r in samples} == {"1.5"}


def test_resume_regenerates_only_missing_targets(tiny_run, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert _sweep(tiny_run, out, *ONE_PROPERTY) == 0  # sampled: every target's sequences differ
    first = (out / "samples.csv").read_bytes()
    summary_first = _rows(out / "summary.csv")
    parts = out / "parts"
    kept = {p: p.stat().st_mtime_ns for p in (parts / "target_00000.csv", parts / "target_00000.json")}
    (parts / "target_00002.csv").unlink()
    (parts / "target_00002.json").unlink()
    capsys.readouterr()

    assert _sweep(tiny_run, out, *ONE_PROPERTY) == 0
    printed = capsys.readouterr().out
    assert "resuming" in printed and "2 of this rank's targets already finished" in printed
    assert "target 3/3" in printed
    assert "target 1/3" not in printed and "target 2/3" not in printed
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert (parts / "target_00002.csv").exists() and (parts / "target_00002.json").exists()
    assert (out / "samples.csv").read_bytes() == first
    strip = [{k: v for k, v in s.items() if k != "seconds"} for s in summary_first]
    assert [{k: v for k, v in s.items() if k != "seconds"} for s in _rows(out / "summary.csv")] == strip

    # a rerun that finds nothing to do still merges, and changes nothing
    assert _sweep(tiny_run, out, *ONE_PROPERTY) == 0
    assert "3 of this rank's targets already finished" in capsys.readouterr().out
    assert (out / "samples.csv").read_bytes() == first

    # a different spec into the same directory is refused and touches nothing
    before = {p.name: p.read_bytes() for p in [*out.iterdir(), *parts.iterdir()] if p.is_file()}
    assert _sweep(tiny_run, out, *ONE_PROPERTY, "--seed", "5") == 2
    err = capsys.readouterr().err
    assert "holds a different sweep" in err and "Traceback" not in err
    after = {p.name: p.read_bytes() for p in [*out.iterdir(), *parts.iterdir()] if p.is_file()}
    assert after == before


def test_sharded_ranks_merge_to_the_single_rank_result(tiny_gen, tmp_path):
    spec = SweepSpec.from_dict({"targets": {"LogP": "0:4:3"}, "n": 8, "images": 0})
    plan = plan_sweep(tiny_gen, spec)
    sharded, single = tmp_path / "sharded", tmp_path / "single"
    logs: list[str] = []
    assert run_targets(tiny_gen, plan, sharded, rank=1, world=2, log=logs.append) == 1
    assert sorted(p.name for p in (sharded / "parts").glob("*.json")) == ["target_00001.json"]
    assert run_targets(tiny_gen, plan, sharded, rank=0, world=2, log=logs.append) == 2
    assert len(logs) == 3
    assert run_targets(tiny_gen, plan, sharded, rank=0, world=2, log=logs.append) == 0  # all done
    merged = merge(sharded, plan)
    assert run_targets(tiny_gen, plan, single, log=logs.append) == 3
    alone = merge(single, plan)
    assert (sharded / "samples.csv").read_bytes() == (single / "samples.csv").read_bytes()
    assert len((single / "samples.csv").read_text().splitlines()) == 25
    a, b = _rows(sharded / "summary.csv"), _rows(single / "summary.csv")
    assert [{k: v for k, v in s.items() if k != "seconds"} for s in a] == [
        {k: v for k, v in s.items() if k != "seconds"} for s in b
    ]
    assert json.dumps(merged, sort_keys=True) == json.dumps(alone, sort_keys=True)


def test_two_property_sweep_plots_images_and_sdf(tiny_run, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from rdkit import Chem

    out = tmp_path / "sweep"
    args = ["-t", "LogP=0:4:2", "-t", "MolWt=250,350", "--n", "6", "--images", "4", "--sdf", "--greedy"]
    assert _sweep(tiny_run, out, *args) == 0
    capsys.readouterr()
    for name in ("target_vs_measured_LogP.png", "target_vs_measured_MolWt.png", "heatmap_LogP_MolWt.png"):
        path = out / "plots" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "heatmap_LogP_MolWt.png",
        "target_vs_measured_LogP.png",
        "target_vs_measured_MolWt.png",
    ]

    summary = _rows(out / "summary.csv")
    assert [(float(s["target_LogP"]), float(s["target_MolWt"])) for s in summary] == [
        (0.0, 250.0),
        (0.0, 350.0),
        (4.0, 250.0),
        (4.0, 350.0),
    ]
    assert "MolWt_mae" in summary[0] and "MolWt_hit_rate" in summary[0]
    for s in summary:  # overall hit = both properties within tolerance
        if s["hit_rate"] != "":
            assert float(s["hit_rate"]) <= min(float(s["LogP_hit_rate"]), float(s["MolWt_hit_rate"]))

    samples = _rows(out / "samples.csv")
    assert len(samples) == 24
    valid = [r for r in samples if r["valid"] == "1"]
    assert valid
    with_valid = {int(r["target_index"]) for r in valid}
    drawn = sorted(p.name for p in (out / "molecules").glob("*.png"))
    assert drawn == [f"target_{i:05d}.png" for i in sorted(with_valid)]

    assert not (out / "molecules.sdf.tmp").exists()
    mols = [m for m in Chem.SDMolSupplier(str(out / "molecules.sdf"))]
    assert len(mols) == len(valid) and all(m is not None for m in mols)
    for mol, row in zip(mols, valid):
        assert mol.GetProp("target_LogP") == row["target_LogP"]
        assert mol.GetProp("target_MolWt") == row["target_MolWt"]
        assert mol.GetProp("LogP") == row["LogP"]
        assert Chem.MolToSmiles(mol) == row["canonical_smiles"]


def test_sweep_writes_parquet_and_smi_beside_the_csv(tiny_run, tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "sweep"
    args = ["-t", "LogP=0:4:2", "--n", "40", "--temperature", "0.6", "--images", "0", "--no-plots"]
    args += ["--parquet", "--smi"]
    assert _sweep(tiny_run, out, *args) == 0
    assert "overall.json, molecules.smi, samples.parquet" in capsys.readouterr().out
    samples = _rows(out / "samples.csv")
    table = pq.read_table(out / "samples.parquet").to_pylist()
    assert [r["sequence"] for r in table] == [r["sequence"] for r in samples]
    assert [r["target_index"] for r in table] == [int(r["target_index"]) for r in samples]
    for got, want in zip(table, samples):  # typed: integers, floats, nulls where RDKit measured nothing
        assert got["valid"] == int(want["valid"]) and got["target_LogP"] == float(want["target_LogP"])
        assert got["LogP"] == (float(want["LogP"]) if want["LogP"] else None)
    valid = [r for r in samples if r["valid"] == "1"]
    lines = (out / "molecules.smi").read_text().splitlines()
    assert lines == [f"{r['canonical_smiles']}\t{r['index']}\t{r['target_index']}" for r in valid]
    assert 0 < len(valid) < len(samples)  # both cases occur


def test_sweep_out_that_names_a_file_is_refused(tiny_run, tmp_path, capsys):
    assert _sweep(tiny_run, tmp_path / "sw.parquet", "-t", "LogP=1,2", "--n", "2") == 2
    err = capsys.readouterr().err
    assert "a sweep writes a directory" in err and "--parquet" in err and "Traceback" not in err
    assert not (tmp_path / "sw.parquet").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-t", "QED=0.5:0.9:2"], "'QED'"),
        (["-t", "LogP=1:2"], "'1:2'"),
        (["-t", "LogP=1", "--tolerance", "LogP=abc"], "'abc'"),
        (["-t", "LogP=1", "--tolerance", "LogP"], "expected NAME=VALUE"),
        (["-t", "LogP=1", "--temperature", "-1"], "temperature"),
        (["-t", "LogP=1", "--n", "0"], "n = 0 is out of range"),
        (["-t", "LogP=a:b:3"], "'a:b:3'"),
        (["-t", "LogP=1", "--fixed", "MolWt=abc"], "'abc'"),
        (["-t", "LogP=1", "--fixed", "LogP=2"], "both swept and fixed"),
        (["--spec", "MISSING"], "does not exist"),
        ([], "at least one target"),
    ],
)
def test_cli_bad_input_exits_2_without_output(tiny_run, tmp_path, capsys, args, needle):
    args = [str(tmp_path / "missing.toml") if a == "MISSING" else a for a in args]
    out = tmp_path / "sweep"
    assert _sweep(tiny_run, out, "--n", "2", "--no-plots", "--images", "0", *args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and needle in captured.err
    assert "Traceback" not in captured.err
    assert not out.exists()


def test_bad_fixed_value_leaves_no_directory(tiny_gen, tmp_path):
    out = tmp_path / "sweep"
    spec = SweepSpec.from_dict({"targets": {"LogP": "1"}, "fixed": {"MolWt": "abc"}, "n": 2, "images": 0})
    with pytest.raises(SeqCVAEError, match="'abc'"):
        run_sweep(tiny_gen, spec, out, plots=False, log=lambda _: None)
    assert not out.exists()


def test_summarise_target_numbers():
    spec = SweepSpec.from_dict({"targets": {"LogP": "1", "MolWt": "300"}, "n": 5})
    plan = SweepPlan(
        spec,
        spec.grid(),
        ["LogP", "MolWt"],
        [],
        ["LogP", "MolWt", "QED"],
        {"LogP": 0.5, "MolWt": 10.0},
        "smiles",
    )
    request = {"LogP": 1.0, "MolWt": 300.0}

    def rec(i, smi, logp, molwt):
        return Record(i, smi, smi, True, {"LogP": logp, "MolWt": molwt, "QED": 0.5}, dict(request))

    records = [
        rec(0, "CCO", 1.5, 305.0),  # |error| == tolerance counts as a hit
        rec(1, "CCN", 0.75, 320.0),  # LogP hit, MolWt miss
        rec(2, "CCO", 2.0, 300.0),  # LogP miss
        rec(3, "CCC", 1.0, 290.0),  # both hit
        Record(4, "C(", targets=dict(request)),  # invalid
    ]
    s = summarise_target(plan, 0, request, records, {"CCO"}, None)
    assert (s["target_LogP"], s["target_MolWt"], s["n"]) == (1.0, 300.0, 5)
    assert s["validity"] == pytest.approx(4 / 5)
    assert s["uniqueness"] == pytest.approx(3 / 4)
    assert s["novelty"] == pytest.approx(2 / 3)
    assert s["LogP_mean"] == pytest.approx(1.3125)
    # Spread of the valid samples' measured values: the population std (ddof 0), on purpose, as
    # the descriptive spread of these n samples (numpy's default), not an estimate for a population.
    assert s["LogP_std"] == pytest.approx(np.std([1.5, 0.75, 2.0, 1.0], ddof=0))
    assert s["LogP_std"] != pytest.approx(np.std([1.5, 0.75, 2.0, 1.0], ddof=1))
    assert s["LogP_mae"] == pytest.approx((0.5 + 0.25 + 1.0 + 0.0) / 4)
    assert s["LogP_hit_rate"] == pytest.approx(3 / 4)
    assert s["MolWt_mae"] == pytest.approx((5 + 20 + 0 + 10) / 4)
    assert s["MolWt_hit_rate"] == pytest.approx(3 / 4)
    assert s["hit_rate"] == pytest.approx(2 / 4)  # both within tolerance: samples 0 and 3
    assert s["QED_mean"] == pytest.approx(0.5) and "QED_mae" not in s
    no_reference = summarise_target(plan, 0, request, records, None, None)
    assert math.isnan(no_reference["novelty"])
    none_valid = summarise_target(plan, 0, request, records[4:], set(), None)
    assert none_valid["validity"] == 0.0
    assert all(math.isnan(none_valid[k]) for k in ("uniqueness", "LogP_mae", "LogP_hit_rate", "hit_rate"))


# --- text runs --------------------------------------------------------------------------------


class _Style:
    def __init__(self):
        self.calls = []

    def accuracy(self, texts, tags):
        self.calls.append((list(texts), dict(tags)))
        return {name: 0.25 for name in tags}


def test_text_target_summary():
    spec = SweepSpec.from_dict({"targets": {"sentiment": "pos,neg"}, "n": 4})
    plan = SweepPlan(spec, spec.grid(), [], ["sentiment"], [], {}, "text")
    texts = ["a b c", "a b a", "a b c", "d"]
    records = [Record(i, t, targets={"sentiment": "neg"}) for i, t in enumerate(texts)]
    style = _Style()
    s = summarise_target(plan, 1, {"sentiment": "neg"}, records, None, style)
    assert s["target_sentiment"] == "neg" and s["n"] == 4
    assert s["uniqueness"] == pytest.approx(3 / 4)
    assert s["distinct_1"] == pytest.approx(4 / 10)  # a b c d out of 10 tokens
    assert s["distinct_2"] == pytest.approx(3 / 6)  # (a b) (b c) (b a) out of 6 bigrams
    assert s["sentiment_style_accuracy"] == 0.25
    assert style.calls == [(texts, {"sentiment": ["neg"] * 4})]
    assert "validity" not in s and plan.schema().columns() == [
        "target_index",
        "index",
        "sequence",
        "target_sentiment",
    ]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("text") / "run"
    args = ["--config", "text_tiny", "--out", str(out), "--no-progress", "data.max_length=32"]
    assert main(["train", *args, "data.too_long=drop"]) == 0
    return out


def test_text_tag_sweep(text_run, tmp_path, capsys, monkeypatch):
    pytest.importorskip("sklearn")
    from seqcvae.text.metrics import StyleClassifier

    fitted: list[StyleClassifier] = []  # the sweep's own classifier
    fit = StyleClassifier.fit

    def recording_fit(self, texts, tags):
        fitted.append(self)
        return fit(self, texts, tags)

    monkeypatch.setattr(StyleClassifier, "fit", recording_fit)
    spec_file = tmp_path / "sweep.toml"
    spec_file.write_text("[sample]\nmax_length = 12\n", encoding="utf-8")
    out = tmp_path / "sweep"
    args = ["--spec", str(spec_file), "-t", "sentiment=pos,neg", "--n", "4", "--no-plots"]
    assert _sweep(text_run, out, *args) == 0
    assert "sentiment accuracy" in capsys.readouterr().out
    summary = _rows(out / "summary.csv")
    assert [s["target_sentiment"] for s in summary] == ["pos", "neg"]
    samples = _rows(out / "samples.csv")
    assert list(samples[0]) == ["target_index", "index", "sequence", "target_sentiment"]
    assert [r["target_sentiment"] for r in samples] == ["pos"] * 4 + ["neg"] * 4
    # Each summary row describes its own four samples; style accuracy is that of the classifier
    # (trained on the run's training file) on them, against the row's tag.
    (style,) = fitted
    for s in summary:
        texts = [r["sequence"] for r in samples if r["target_sentiment"] == s["target_sentiment"]]
        assert float(s["distinct_1"]) == pytest.approx(distinct_n(texts, 1), rel=1e-5)
        assert float(s["distinct_2"]) == pytest.approx(distinct_n(texts, 2), rel=1e-5)
        expected = style.accuracy(texts, {"sentiment": [s["target_sentiment"]] * 4})["sentiment"]
        assert float(s["sentiment_style_accuracy"]) == pytest.approx(expected, rel=1e-5)
        assert "validity" not in s
    assert not (out / "molecules").exists()


# --- bounded memory ---------------------------------------------------------------------------

SMILES = ("CCO", "c1ccccc1", "CC(=O)O", "CCN", "CCCCCC")


def _fake_records(request, n, seed):
    """What Generator.generate returns for a SMILES run, without sampling or RDKit."""
    return [
        Record(
            i,
            SMILES[(i + seed) % 5],
            SMILES[(i + seed) % 5],
            True,
            {"LogP": 1.0 + (i % 7) * 0.1, "MolWt": 250.0 + (i % 11)},
            dict(request),
        )
        for i in range(n)
    ]


def _stub_generator(run, peaks: list[int] | None = None, hold: list[Record] | None = None):
    """A generator whose generate returns _fake_records. `peaks`: before each target, the traced
    peak since the previous one is appended and the peak reset (tracemalloc must be on); `hold`:
    every target's records are kept there (a leak the memory checks must see)."""
    gen = Generator.load(run)

    def generate(conditions=None, n=100, seed=0, **_):
        if peaks is not None:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.reset_peak()
        records = _fake_records(conditions, n, seed)
        if hold is not None:
            hold.extend(records)
        return records

    gen.generate = generate  # type: ignore[assignment]
    return gen


def _peak(fn):
    gc.collect()  # garbage of earlier tests is not this measurement's
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _holding(targets, n):
    """Bytes that holding `targets` targets' records at once would take."""
    held: list[list[Record]] = []
    return _peak(lambda: held.extend(_fake_records({"LogP": 1.0}, n, t) for t in range(targets)))


def _streamed(run, out, targets, n, hold=None):
    """Run and merge a stub sweep of `targets` x `n` under tracemalloc. run_peak: the highest
    traced memory of run_targets; target_peaks: its peak within each target (setup included in
    the first); merge_peak: that of merge."""
    peaks: list[int] = []
    gen = _stub_generator(run, peaks, hold)
    spec = SweepSpec.from_dict(
        {"targets": {"LogP": {"start": 0, "stop": 4, "steps": targets}}, "n": n, "images": 0}
    )
    plan = plan_sweep(gen, spec)
    gen.reference_set()  # loaded once and cached: not part of the streaming cost
    result = {}
    last = _peak(lambda: run_targets(gen, plan, out, log=lambda _: None))  # since the last reset
    result["target_peaks"] = [*peaks[1:], last]  # peaks[0]: before the first target, in the first
    result["target_peaks"][0] = max(result["target_peaks"][0], peaks[0])
    result["run_peak"] = max(result["target_peaks"])
    result["merge_peak"] = _peak(lambda: result.update(overall=merge(out, plan)))
    with open(out / "samples.csv", "rb") as fh:
        result["lines"] = sum(1 for _ in fh)
    result["summary_rows"] = len(_rows(out / "summary.csv"))
    result["requests"] = [r["LogP"] for r in plan.requests]
    return result


def _check_streamed(r, targets, n, one_target):
    print(
        f"\n{targets} x {n} samples: run_targets peak {r['run_peak'] / MB:.1f} MB, merge peak "
        f"{r['merge_peak'] / MB:.1f} MB (one target's records: {one_target / MB:.1f} MB)"
    )
    assert r["lines"] == targets * n + 1
    assert r["summary_rows"] == targets
    logp = r["overall"]["LogP"]
    assert logp["valid_samples"] == targets * n
    # overall MAE and hit rate over every sample, from the stub's known values (as written: 6 digits)
    errors = [
        abs(float(f"{1.0 + k * 0.1:.6g}") - float(f"{t:.6g}")) * len(range(k, n, 7))
        for t in r["requests"]
        for k in range(7)
    ]
    hits = [
        len(range(k, n, 7))
        for t in r["requests"]
        for k in range(7)
        if abs(float(f"{1.0 + k * 0.1:.6g}") - float(f"{t:.6g}")) <= logp["tolerance"]
    ]
    assert logp["mae"] == pytest.approx(sum(errors) / (targets * n), rel=1e-9)
    assert 0 < logp["hit_rate"] == pytest.approx(sum(hits) / (targets * n), rel=1e-9)
    # generation holds one target at a time: its peak does not grow with the number of targets.
    # Nine targets in ten stay within the bound: the interpreter's own allocations land in a few
    # (rebuilding the table of interned strings, which pathlib adds to for every new file name,
    # took 7.5-9 MB at once, once or twice a run, in a process that had run the whole suite
    # before this test); records kept across targets would raise every later target's peak.
    peaks = sorted(r["target_peaks"])
    assert len(peaks) == targets
    assert peaks[int(0.9 * targets) - 1] < 3 * one_target + 2 * MB


def _streamed_fresh(run: Path, out: Path, targets: int, n: int) -> dict[str, Any]:
    """_streamed in a fresh interpreter: in one that has run the whole suite, rebuilding its table
    of interned strings (pathlib interns every new file name) took 9 MB at once in most targets."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_streamed, (run, out, targets, n))


@pytest.fixture(scope="module")
def streamed_100k(tiny_run, tmp_path_factory):
    return _streamed_fresh(tiny_run, tmp_path_factory.mktemp("mem") / "sweep", 100, 1000)


def test_memory_streaming_100k(streamed_100k):
    one_target, everything = _holding(1, 1000), _holding(100, 1000)
    assert everything > 50 * one_target  # the measurement sees the records
    _check_streamed(streamed_100k, 100, 1000, one_target)
    assert streamed_100k["merge_peak"] < everything / 2


def test_memory_check_sees_records_held_across_targets(tiny_run, tmp_path):
    """The streaming check above can fail: a runner that kept every target's records breaks it."""
    held: list[Record] = []
    r = _streamed(tiny_run, tmp_path / "sweep", 20, 1000, hold=held)
    assert len(held) == 20_000
    with pytest.raises(AssertionError):
        _check_streamed(r, 20, 1000, _holding(1, 1000))


def _merge_growth(run: str, out: str) -> float:
    """Bytes of merge peak per extra valid sample, 10 vs 100 targets of 1,000 (after a warm-up)."""
    _streamed(Path(run), Path(out) / "warm", 2, 100)
    small = _streamed(Path(run), Path(out) / "small", 10, 1000)
    big = _streamed(Path(run), Path(out) / "big", 100, 1000)
    return (big["merge_peak"] - small["merge_peak"]) / 90_000


def test_merge_memory_does_not_grow_per_sample(tiny_run, tmp_path):
    # Measured in a fresh interpreter: after the whole suite has run in this one, the same merge
    # traces ~85 bytes more per row (136 against 51; state left by earlier tests, not found yet).
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        per_sample = pool.apply(_merge_growth, (str(tiny_run), str(tmp_path)))
    print(f"\nmerge: {per_sample:.0f} bytes per extra valid sample")
    # the overall Spearman needs every (target, measured) pair, held once: a float64 pair (16
    # bytes), one rank array kept (8) and the other's sort order, sorted copy and ranks (24) while
    # it is computed: ~50 measured; Python tuples took ~165 bytes, the pairs held twice ~68
    assert per_sample < 75


@pytest.fixture(scope="module")
def streamed_1m(tiny_run, tmp_path_factory):
    return _streamed(tiny_run, tmp_path_factory.mktemp("mem") / "sweep", 100, 10_000)


@pytest.mark.slow  # ~1 min: a million rows through csv, twice
def test_memory_streaming_1m(streamed_1m):
    _check_streamed(streamed_1m, 100, 10_000, _holding(1, 10_000))


@pytest.mark.slow
def test_memory_streaming_1m_merge_under_150mb(streamed_1m):
    print(f"\nmerge peak {streamed_1m['merge_peak'] / MB:.1f} MB")
    assert streamed_1m["merge_peak"] < 150 * MB


# ----- found in review ----------------------------------------------------------------------------


def test_resume_with_another_model_is_refused(tiny_run, tmp_path, capsys):
    import shutil

    out = tmp_path / "s"
    assert _sweep(tiny_run, out, "-t", "LogP=0:4:2", "--n", "3", "--greedy") == 0
    other = tmp_path / "other_run"
    shutil.copytree(tiny_run, other)
    before = (out / "samples.csv").read_bytes()
    capsys.readouterr()
    assert _sweep(other, out, "-t", "LogP=0:4:2", "--n", "3", "--greedy") == 2
    assert "made with another model" in capsys.readouterr().err
    assert (out / "samples.csv").read_bytes() == before


def test_json_output_is_only_json(tiny_run, tmp_path, capsys):
    assert _sweep(tiny_run, tmp_path / "s", "-t", "LogP=0:4:2", "--n", "3", "--greedy", "--json") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["finished"] == 2
    assert "target 1/2" in captured.err


def test_missing_part_csv_is_regenerated(tiny_run, tmp_path, capsys):
    out = tmp_path / "s"
    args = ("-t", "LogP=0:4:3", "--n", "3", "--greedy")
    assert _sweep(tiny_run, out, *args) == 0
    before = (out / "samples.csv").read_bytes()
    (out / "parts" / "target_00001.csv").unlink()
    assert _sweep(tiny_run, out, *args) == 0
    assert (out / "samples.csv").read_bytes() == before


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["-t", "LogP=,"], "no values"),
        (["-t", "LogP=1", "--out-is-file"], "is a file"),
    ],
)
def test_more_bad_sweep_input(tiny_run, tmp_path, capsys, extra, needle):
    out = tmp_path / "s"
    if "--out-is-file" in extra:
        extra = [e for e in extra if e != "--out-is-file"]
        out.write_text("not a directory")
    assert _sweep(tiny_run, out, *extra, "--n", "2") == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def _measuring_only(run, names):
    """The tiny model as if RDKit could measure only `names` of its conditions (like a model
    conditioned on a file column such as pIC50)."""
    gen = Generator.load(run)
    gen.measured_properties = lambda: list(names)  # type: ignore[method-assign]
    return gen


def test_a_swept_property_that_cannot_be_measured_is_swept_not_scored(tiny_run, tmp_path):
    gen = _measuring_only(tiny_run, ["LogP"])
    spec = SweepSpec.from_dict(
        {"targets": {"MolWt": [250, 350]}, "n": 3, "images": 0, "sample": {"strategy": "greedy"}}
    )
    logs: list[str] = []
    overall = run_sweep(gen, spec, tmp_path / "s", plots=False, log=logs.append)
    assert "MolWt" not in overall and len(logs) == 2
    summary = _rows(tmp_path / "s" / "summary.csv")
    assert [s["target_MolWt"] for s in summary] == ["250", "350"]
    assert all(s["hit_rate"] == "" and "MolWt_mae" not in s and "LogP_mean" in s for s in summary)
    samples = _rows(tmp_path / "s" / "samples.csv")
    assert [r["target_MolWt"] for r in samples] == ["250"] * 3 + ["350"] * 3
    bad = SweepSpec.from_dict({"targets": {"MolWt": [250]}, "tolerance": {"MolWt": 5.0}})
    with pytest.raises(ConfigError, match="MolWt cannot be measured"):
        plan_sweep(gen, bad)


def test_a_smiles_run_measuring_nothing_still_reports_validity(tiny_run, tmp_path):
    gen = _measuring_only(tiny_run, [])
    spec = SweepSpec.from_dict(
        {"targets": {"LogP": [1]}, "n": 4, "images": 0, "sample": {"strategy": "greedy"}}
    )
    overall = run_sweep(gen, spec, tmp_path / "s", plots=False, log=lambda _: None)
    samples = _rows(tmp_path / "s" / "samples.csv")
    assert list(samples[0]) == [
        "target_index",
        "index",
        "sequence",
        "canonical_smiles",
        "valid",
        "target_LogP",
    ]
    (summary,) = _rows(tmp_path / "s" / "summary.csv")
    assert float(summary["validity"]) == pytest.approx(sum(r["valid"] == "1" for r in samples) / 4)
    assert overall["validity"] == pytest.approx(float(summary["validity"]))


def test_parts_written_with_other_column_names_are_generated_again(tiny_run, tmp_path, capsys):
    out = tmp_path / "s"
    args = ("-t", "LogP=0:4:2", "--fixed", "MolWt=300", "--n", "3", "--greedy", "--no-plots", "--images", "0")
    assert _sweep(tiny_run, out, *args) == 0
    before = (out / "samples.csv").read_bytes()
    part = out / "parts" / "target_00001.csv"
    part.write_text(part.read_text().replace("target_MolWt", "fixed_MolWt"))  # as seqcvae <= b4cbcff wrote it
    capsys.readouterr()
    assert _sweep(tiny_run, out, *args) == 0
    assert "1 of this rank's targets already finished" in capsys.readouterr().out
    assert (out / "samples.csv").read_bytes() == before


@pytest.mark.slow  # two torchrun processes (~30 s)
def test_torchrun_sweep_matches_one_process(tmp_path, capsys):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = root / "tests" / "fixtures" / "ckpt_b4cbcff_smiles_tiny"
    spec = tmp_path / "sweep.toml"  # torchrun would take --n for one of its own options
    spec.write_text("n = 4\nimages = 0\n", encoding="utf-8")
    args = ["--checkpoint", str(run), "--spec", str(spec), "-t", "LogP=0:4:3", "--greedy", "--no-plots"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd = [*launcher, "-m", "seqcvae", "sweep", *args, "--out", str(tmp_path / "two")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=root)
    assert res.returncode == 0, res.stderr[-3000:]
    assert main(["sweep", *args, "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    for name in ("samples.csv", "summary.csv"):
        one, two = _rows(tmp_path / "one" / name), _rows(tmp_path / "two" / name)
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in two] == [
            {k: v for k, v in r.items() if k != "seconds"} for r in one
        ]
