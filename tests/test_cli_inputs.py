"""CLI inputs on a tiny text model with a numeric tag (stars 1..5) and its own [sample] seed, batch size."""

import csv
import gzip
import json
import subprocess
import sys

import pytest

from seqcvae.cli import main
from tests.conftest import ROOT

SAMPLE_SEED, SAMPLE_BATCH = 7, 3


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def stars_run(tmp_path_factory):
    """A few training steps on 250 sentences tagged with an integer rating (the tag column holds 1..5)."""
    folder = tmp_path_factory.mktemp("stars")
    with gzip.open(ROOT / "data" / "vader" / "train.tsv.gz", "rt", encoding="utf-8") as fh:
        sentences = [r["text"] for r, _ in zip(csv.DictReader(fh, delimiter="\t"), range(250))]
    data = folder / "reviews.tsv"
    data.write_text(
        "stars\ttext\n" + "".join(f"{1 + i % 5}\t{s}\n" for i, s in enumerate(sentences)), encoding="utf-8"
    )
    out = folder / "run"
    argv = ["train", "--config", "text_tiny", "--out", str(out), "--no-progress", f"data.train_path={data}"]
    overrides = [
        "data.val_path=''",
        "data.limit=0",
        'data.tags=["stars"]',
        "data.max_length=32",
        "data.too_long=drop",
        "train.max_steps=4",
        f"sample.seed={SAMPLE_SEED}",
        f"sample.batch_size={SAMPLE_BATCH}",
        "sample.max_length=12",
    ]
    assert main([*argv, *overrides]) == 0
    return out


def test_generate_with_numeric_tag(stars_run, tmp_path):
    out = tmp_path / "g.csv"
    argv = ["generate", "--checkpoint", str(stars_run), "-c", "stars=5", "--n", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    assert [r["target_stars"] for r in _rows(out)] == ["5"] * 4


def test_transfer_with_numeric_target_and_source_tags(stars_run, tmp_path):
    out = tmp_path / "t.csv"
    argv = ["transfer", "--checkpoint", str(stars_run), "--text", "Great food.", "--text", "Awful."]
    assert main([*argv, "-c", "stars=5", "--source", "stars=1", "--out", str(out)]) == 0
    rows = _rows(out)
    assert [r["source"] for r in rows] == ["Great food.", "Awful."]
    assert [r["target_stars"] for r in rows] == ["5", "5"]


def test_sweep_over_numeric_tags(stars_run, tmp_path):
    out = tmp_path / "sweep"
    argv = ["sweep", "--checkpoint", str(stars_run), "--out", str(out), "-t", "stars=1,5", "--n", "2"]
    assert main([*argv, "--no-plots"]) == 0
    assert [r["target_stars"] for r in _rows(out / "summary.csv")] == ["1", "5"]
    out2 = tmp_path / "sweep2"
    argv2 = ["sweep", "--checkpoint", str(stars_run), "--out", str(out2), "-t", "stars=1:5:2"]
    assert main([*argv2, "--n", "2", "--no-plots"]) == 0
    assert [r["target_stars"] for r in _rows(out2 / "summary.csv")] == ["1", "5"]


@pytest.mark.parametrize(
    "command", [["generate", "-c", "stars=6"], ["transfer", "--text", "Fine.", "-c", "stars=4.5"]]
)
def test_unknown_numeric_tag_is_one_line_error(stars_run, command):
    proc = subprocess.run(
        [sys.executable, "-m", "seqcvae", command[0], "--checkpoint", str(stars_run), *command[1:]],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "unknown stars tag" in proc.stderr and "1, 2, 3, 4, 5" in proc.stderr


def test_generate_seed_and_batch_size_default_to_the_checkpoints_sample_settings(stars_run, tmp_path):
    def sample(*extra):
        out = tmp_path / "g.csv"
        assert main(["generate", "--checkpoint", str(stars_run), "--n", "8", "--out", str(out), *extra]) == 0
        return [r["sequence"] for r in _rows(out)]

    default = sample()
    assert default == sample("--seed", str(SAMPLE_SEED), "--batch-size", str(SAMPLE_BATCH))
    assert default != sample("--seed", "0", "--batch-size", "1000")


def test_transfer_seed_defaults_to_the_checkpoints_sample_seed(stars_run, tmp_path):
    def transfer(*extra):
        out = tmp_path / "t.csv"
        argv = ["transfer", "--checkpoint", str(stars_run), "--text", "Nice place.", "-c", "stars=2"]
        assert main([*argv, "--text", "So so.", "--sample", "--out", str(out), *extra]) == 0
        return [r["sequence"] for r in _rows(out)]

    assert transfer() == transfer("--seed", str(SAMPLE_SEED))


def test_sweep_seed_and_batch_size_default_to_the_checkpoints_sample_settings(stars_run, tmp_path):
    out = tmp_path / "sweep"
    argv = ["sweep", "--checkpoint", str(stars_run), "--out", str(out), "-t", "stars=2", "--n", "2"]
    assert main([*argv, "--no-plots"]) == 0
    spec = json.loads((out / "spec.json").read_text(encoding="utf-8"))
    assert (spec["seed"], spec["batch_size"]) == (SAMPLE_SEED, SAMPLE_BATCH)
    other = tmp_path / "sweep-seeded"
    argv = ["sweep", "--checkpoint", str(stars_run), "--out", str(other), "-t", "stars=2", "--n", "2"]
    assert main([*argv, "--no-plots", "--seed", "1", "--batch-size", "5"]) == 0
    spec = json.loads((other / "spec.json").read_text(encoding="utf-8"))
    assert (spec["seed"], spec["batch_size"]) == (1, 5)
