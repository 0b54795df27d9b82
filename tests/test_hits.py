"""Verified generation: `generate --hits N` (molecules RDKit measures inside every goal), the
--valid-only/--unique/--novel filters, the tolerance errors, and RDKit checking in worker
processes overlapping with sampling (same records as checking here)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from seqcvae.cli import main

# The tiny model's validity is about 1%: loose goals keep the searches short (a few hundred samples).
LOOSE = ["-c", "LogP=1", "-c", "MolWt=20:200", "--tolerance", "LogP=2"]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _generate(run: Path, *args: str) -> int:
    return main(["generate", "--checkpoint", str(run), *args])


def test_hits_are_exactly_n_molecules_inside_every_goal(tiny_run, tmp_path, capsys, one_thread):
    from seqcvae.chem.properties import analyse_smiles

    out = tmp_path / "hits.csv"
    assert _generate(tiny_run, *LOOSE, "--hits", "3", "--workers", "0", "--out", str(out)) == 0
    text = capsys.readouterr().out
    assert "acceptance" in text and "verified hits/s" in text and "wrote 3 rows" in text
    rows = _rows(out)
    assert len(rows) == 3
    for r in rows:
        canonical, props = analyse_smiles(r["sequence"], ["LogP", "MolWt"])  # measured again here
        assert canonical == r["canonical_smiles"] and r["valid"] == "1"
        assert -1 <= props["LogP"] <= 3 and 20 <= props["MolWt"] <= 200
        assert float(r["target_LogP"]) == 1 and float(r["target_MolWt"]) == 110  # a range's midpoint
    assert [int(r["index"]) for r in rows] == sorted(int(r["index"]) for r in rows)


def test_hits_json_reports_the_search(tiny_run, capsys, one_thread):
    assert _generate(tiny_run, *LOOSE, "--hits", "2", "--workers", "0", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    hits = summary["hits"]
    assert hits["hits"] == 2 and hits["complete"] and hits["samples"] == summary["generated"]
    assert hits["acceptance"] == pytest.approx(2 / hits["samples"]) and hits["hits_per_s"] > 0
    assert hits["max_samples"] == 400  # 200 x N by default


def test_default_tolerance_is_five_percent_of_the_training_range(tiny_run, tmp_path, capsys, one_thread):
    from seqcvae.chem.properties import analyse_smiles
    from seqcvae.data.conditions import DEFAULT_TOLERANCE_FRACTION
    from seqcvae.generation.generator import Generator

    (logp,) = [c for c in Generator.load(tiny_run).conditions.continuous if c.name == "LogP"]
    tol = DEFAULT_TOLERANCE_FRACTION * (logp.maximum - logp.minimum)
    out = tmp_path / "h.csv"
    argv = ["-c", "LogP=0.5", "--hits", "1", "--workers", "0", "--json", "--out", str(out)]
    assert _generate(tiny_run, *argv) == 0
    (goal,) = [g for g in json.loads(capsys.readouterr().out)["hits"]["selection"] if g.startswith("LogP")]
    assert goal == f"LogP in [{0.5 - tol:g}, {0.5 + tol:g}]"
    # samples are measured on the goals' properties; a hit on the others too (MolWt here)
    (row,) = _rows(out)
    assert float(row["MolWt"]) == pytest.approx(
        analyse_smiles(row["sequence"], ["MolWt"])[1]["MolWt"], rel=1e-5
    )


def test_an_exhausted_budget_fails_in_one_line_and_keeps_the_hits(tiny_run, tmp_path, capsys, one_thread):
    out = tmp_path / "partial.csv"
    argv = [*LOOSE, "--hits", "50", "--max-samples", "600", "--workers", "0", "--out", str(out)]
    assert _generate(tiny_run, *argv) == 2
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if not x.startswith("warning: MolWt=110 is outside")]
    assert line.startswith("error: ") and "Traceback" not in err, err
    err = line
    rows = _rows(out)
    assert 0 < len(rows) < 50
    assert (
        f"{len(rows)} of 50 hits in 600 samples drawn" in err and "--max-samples" in err and str(out) in err
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-c", "LogP=1", "--tolerance", "Foo=1"], "Foo"),
        (["-c", "LogP=1", "--tolerance", "LogP=abc"], "LogP='abc'"),
        (["-c", "LogP=1", "--tolerance", "LogP=-0.5"], "LogP=-0.5"),
        (["-c", "LogP=1", "--tolerance", "LogP=0"], "LogP=0"),
        (["-c", "LogP=1", "--tolerance", "MolWt=5"], "MolWt"),
        (["-c", "LogP=1", "--tolerance", "LogP=1:2"], "LogP='1:2'"),
        (["-c", "MolWt=350:250"], "MolWt='350:250'"),
        (["-c", "MolWt=250:abc"], "MolWt='250:abc'"),
        (["-c", "MolWt=250:350", "--tolerance", "MolWt=5"], "MolWt=250:350"),
        (["-c", "LogP=1", "--max-samples", "0"], "--max-samples 0"),
    ],
)
def test_bad_goals_are_one_line_errors_naming_the_value(tiny_run, capsys, args, needle):
    assert _generate(tiny_run, *args, "--hits", "2") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and needle in err, err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tolerance", "LogP=1", "-c", "LogP=1"], "add --hits N"),
        (["--hits", "0"], "--hits 0"),
        (["--hits", "2", "--n", "5"], "give one"),
        (["--workers", "-1"], "--workers -1"),
    ],
)
def test_option_misuse_is_a_one_line_error(tiny_run, capsys, args, needle):
    assert _generate(tiny_run, *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_filters_on_plain_generate(tiny_run, tmp_path, capsys, one_thread):
    from seqcvae.generation.reference import run_reference

    everything, kept = tmp_path / "all.csv", tmp_path / "kept.csv"
    base = ["--n", "400", "--seed", "1", "--workers", "0"]
    assert _generate(tiny_run, *base, "--out", str(everything)) == 0
    assert _generate(tiny_run, *base, "--valid-only", "--out", str(kept)) == 0
    rows = _rows(everything)
    assert _rows(kept) == [r for r in rows if r["valid"] == "1"] and _rows(kept)
    assert "kept" in capsys.readouterr().out

    assert _generate(tiny_run, *base, "--unique", "--out", str(kept)) == 0
    seen: set[str] = set()
    expected = []
    for r in rows:
        key = r["canonical_smiles"] or r["sequence"]
        if key not in seen:
            seen.add(key)
            expected.append(r)
    assert _rows(kept) == expected and len(expected) < len(rows)

    reference = run_reference(tiny_run)
    assert reference is not None
    assert _generate(tiny_run, *base, "--novel", "--out", str(kept)) == 0
    assert _rows(kept) == [r for r in rows if r["valid"] == "1" and r["canonical_smiles"] not in reference]
    # a reference file of some of the samples: those are no longer novel
    ref_file = tmp_path / "ref.smi"
    valid = [r["canonical_smiles"] for r in rows if r["valid"] == "1"]
    ref_file.write_text("\n".join(valid[:2]) + "\n", encoding="utf-8")
    argv = [*base, "--novel", "--unique", "--reference", str(ref_file), "--out", str(kept)]
    assert _generate(tiny_run, *argv) == 0
    first_two = set(valid[:2])
    assert [r["canonical_smiles"] for r in _rows(kept)] == [
        c for c in dict.fromkeys(valid) if c not in first_two
    ]


def test_unique_hits_are_distinct(tiny_run, tmp_path, one_thread):
    out = tmp_path / "unique.csv"
    assert _generate(tiny_run, *LOOSE, "--hits", "4", "--unique", "--workers", "0", "--out", str(out)) == 0
    smiles = [r["canonical_smiles"] for r in _rows(out)]
    assert len(smiles) == 4 == len(set(smiles))


def test_novel_needs_a_reference(tiny_run, tmp_path, capsys):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(tiny_run / "checkpoints" / "best", bare)  # a checkpoint without its run's reference
    assert _generate(bare, "--n", "5", "--novel") == 2
    err = capsys.readouterr().err
    assert "--novel" in err and "--reference" in err


def test_the_pipeline_checks_like_this_process(tiny_run, one_thread):
    """Checking in worker processes while the next batch is sampled gives the records of checking
    here, whatever the batch size and the number of workers; so does the hit search."""
    from seqcvae.chem.properties import prepare_worker
    from seqcvae.generation.generator import Generator
    from seqcvae.generation.hits import Selection, Selector, find_hits, request_goals
    from seqcvae.parallel import process_pool

    gen = Generator.load(tiny_run)
    names = (gen.measured_properties(),)
    serial = gen.generate({"LogP": 1.0}, n=700, seed=5, batch_size=700)
    with process_pool(2, prepare_worker, names) as pool:
        pooled = gen.generate({"LogP": 1.0}, n=700, seed=5, batch_size=150, pool=pool)
    assert pooled == serial and any(r.valid for r in serial)

    request, goals = request_goals(gen.conditions, {"LogP": 1.0, "MolWt": "20:200"}, {"LogP": 2.0}, names[0])
    settings = gen.default_settings()

    def search(pool, batch_size):  # type: ignore[no-untyped-def]
        selector = Selector(Selection(valid=True, goals=tuple(goals)))
        kw = {"max_samples": 2000, "seed": 0, "batch_size": batch_size, "settings": settings, "pool": pool}
        return find_hits(gen, request, selector, 3, **kw)

    here = search(None, 1000)
    with process_pool(1, prepare_worker, names) as pool:
        there = search(pool, 64)
    assert here.hits == there.hits and len(here.hits) == 3
    assert len(here.drawn) == len(there.drawn) == here.hits[-1].index + 1


def test_overlapped_keeps_order_and_runs_one_item_ahead():
    from seqcvae.parallel import overlapped, submit_chunks

    events: list[str] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(3):
            events.append(f"make {i}")
            yield [i, i + 10]

    def submit(item):  # type: ignore[no-untyped-def]
        events.append(f"submit {item[0]}")
        return submit_chunks(lambda xs: [x * 2 for x in xs], item, 1, None)

    got = []
    for item, result in overlapped(items(), submit):
        events.append(f"use {item[0]}")
        got.append(result)
    assert got == [[0, 20], [2, 22], [4, 24]]
    # item 1 is made (sampled) before item 0's result is used
    assert events[:4] == ["make 0", "submit 0", "make 1", "submit 1"] and events[4] == "use 0"


def test_request_goals_and_selector_units(tiny_run):
    from seqcvae.generation.generator import Generator
    from seqcvae.generation.hits import Selection, Selector, request_goals
    from seqcvae.generation.records import Record

    gen = Generator.load(tiny_run)
    request, goals = request_goals(
        gen.conditions, {"LogP": 2.0, "MolWt": "250:350"}, {"LogP": 0.1}, ["LogP", "MolWt"]
    )
    assert request == {"LogP": 2.0, "MolWt": 300.0}
    assert [(g.name, g.low, g.high) for g in goals] == [
        ("LogP", pytest.approx(1.9), pytest.approx(2.1)),
        ("MolWt", 250.0, 350.0),
    ]
    recs = [
        Record(0, "CCO", "CCO", True, {"LogP": 2.0, "MolWt": 300.0}),
        Record(1, "OCC", "CCO", True, {"LogP": 2.0, "MolWt": 300.0}),
        Record(2, "C", "C", True, {"LogP": 2.5, "MolWt": 300.0}),
        Record(3, "C(", None, False),
    ]
    keep = Selector(Selection(valid=True, unique=True, goals=tuple(goals))).select(recs)
    assert [r.index for r in keep] == [0]
    assert [r.index for r in Selector(Selection(unique=True)).select(recs)] == [0, 2, 3]
    assert [r.index for r in Selector(Selection(novel=True), {"C"}).select(recs)] == [0, 1]
