import csv
import json
import subprocess
import sys

import pytest

from seqcvae.cli import main
from tests.conftest import tiny_overrides


def test_end_to_end_train_generate(tiny_run, tmp_path, capsys):
    for name in ("config.json", "metrics.csv", "reference_smiles.txt.gz"):
        assert (tiny_run / name).exists()
    for name in ("best", "last"):
        assert (tiny_run / "checkpoints" / name / "model.safetensors").exists()
    with open(tiny_run / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["split"] for r in rows} == {"train", "val"}
    out = tmp_path / "out.csv"
    rc = main(
        [
            "generate",
            "--checkpoint",
            str(tiny_run),
            "-c",
            "LogP=2.5",
            "-c",
            "MolWt=300",
            "--n",
            "64",
            "--out",
            str(out),
            "--seed",
            "2",  # a seed whose 64 samples include valid molecules (the tiny model's validity is ~2%)
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "validity" in text and "uniqueness" in text and "novelty" in text and "LogP" in text
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 64
    assert list(rows[0]) == [
        "index",
        "sequence",
        "canonical_smiles",
        "valid",
        "LogP",
        "MolWt",
        "target_LogP",
        "target_MolWt",
    ]
    for r in rows:
        assert r["valid"] in ("0", "1")
        assert (r["canonical_smiles"] != "") == (r["valid"] == "1")
        assert (r["LogP"] != "") == (r["valid"] == "1")
        assert float(r["target_LogP"]) == 2.5


def test_generate_json_summary(tiny_run, capsys):
    assert main(["generate", "--checkpoint", str(tiny_run), "--n", "20", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["generated"] == 20


def test_unknown_condition_is_clear_error(tiny_run, capsys):
    rc = main(["generate", "--checkpoint", str(tiny_run), "-c", "logp=2"])
    err = capsys.readouterr().err
    assert rc == 2 and "'logp'" in err and "LogP, MolWt" in err


@pytest.mark.parametrize("cond", ["LogP", "LogP=", "LogP=abc"])
def test_malformed_condition(tiny_run, capsys, cond):
    assert main(["generate", "--checkpoint", str(tiny_run), "-c", cond]) == 2
    assert "LogP" in capsys.readouterr().err


def test_missing_checkpoint_exits_cleanly_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "seqcvae", "generate", "--checkpoint", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_resume_refuses_model_changes(tiny_run, capsys):
    assert main(["train", "--resume", str(tiny_run), "model.latent_dim=4"]) == 2
    assert "only the budget" in capsys.readouterr().err


def test_bad_override_and_existing_run(tiny_run, capsys):
    assert main(["train", "--config", "smiles_tiny", "train.epoch=2"]) == 2
    assert "epochs" in capsys.readouterr().err
    assert main(["train", "--config", "smiles_tiny", "--out", str(tiny_run)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_continues_to_same_weights(tmp_path, monkeypatch):
    """Interrupted at step 10 and resumed: the weights of an uninterrupted run, with the default
    cosine LR over the default kind of budget, a time budget. The fake step clock (0.125 s a step)
    makes the budget's step count reproducible: 3 s = 24 steps, planned at the first checkpoint."""
    import torch

    from seqcvae.models.checkpoint import load_checkpoint
    from tests.fakeclock import FakeClock, install

    straight, split = tmp_path / "straight", tmp_path / "split"
    common = ["train.epochs=5", "data.limit=600", "train.max_steps=0", "train.max_minutes=0.05"]
    install(FakeClock(0.125), monkeypatch)
    assert main(["train", *tiny_overrides(straight), *common]) == 0
    # 540 training rows / batch 64 = 9 steps per epoch: the interrupt falls inside epoch 2.
    install(FakeClock(0.125, interrupt_before=10), monkeypatch)
    assert main(["train", *tiny_overrides(split), *common]) == 130
    assert load_checkpoint(split, which="last").meta["step"] == 10
    # Twice as fast after the resume: the stored step count, not a new estimate, sets the schedule.
    install(FakeClock(0.0625), monkeypatch)
    assert main(["train", "--resume", str(split), "--no-progress"]) == 0
    a = load_checkpoint(straight, which="last")
    b = load_checkpoint(split, which="last")
    assert a.meta["step"] == b.meta["step"] == 24
    for k in a.weights:
        assert torch.equal(a.weights[k], b.weights[k]), k


def test_generate_with_beam_search(tiny_run, capsys):
    assert main(["generate", "--checkpoint", str(tiny_run), "--n", "6", "--beam", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["generated"] == 6


def test_overrides_on_both_sides_of_options(tmp_path):
    out = tmp_path / "split"
    argv = ["train", "--config", "smiles_tiny", "train.max_steps=3", "--out", str(out), "--no-progress"]
    assert main([*argv, "model.latent_dim=4"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["max_steps"] == 3 and cfg["model"]["latent_dim"] == 4


def test_unknown_option_still_rejected(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--config", "smiles_tiny", "--out", str(tmp_path / "x"), "--bogus", "a=1"])
    assert exc.value.code == 2 and "--bogus" in capsys.readouterr().err


def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path, capsys):
    """--overwrite deletes only a seqcvae run; any other directory is left exactly as it was."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work", encoding="utf-8")
    (folder / "checkpoints").mkdir()  # even with a checkpoints/ folder: no config.json, not a run
    assert main(["train", *tiny_overrides(folder), "--overwrite", "train.max_steps=1"]) == 2
    err = capsys.readouterr().err
    assert "not a seqcvae run" in err and str(folder) in err and len(err.strip().splitlines()) == 1
    assert (folder / "thesis.tex").read_text(encoding="utf-8") == "years of work"
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoints", "thesis.tex"]


def test_overwrite_replaces_a_run(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints" / "last").mkdir(parents=True)  # what a run leaves, as far as --overwrite looks
    (run / "config.json").write_text("{}", encoding="utf-8")
    (run / "stale.txt").write_text("from the old run", encoding="utf-8")
    assert main(["train", *tiny_overrides(run), "--overwrite", "train.max_steps=1", "data.limit=300"]) == 0
    assert not (run / "stale.txt").exists()
    assert json.loads((run / "config.json").read_text())["train"]["max_steps"] == 1


def test_overwrite_replaces_a_run_stopped_before_its_first_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}", encoding="utf-8")  # what such a run leaves
    (run / "metrics.csv").write_text("step,epoch\n", encoding="utf-8")
    (run / "reference_smiles.txt.gz").write_bytes(b"")
    assert main(["train", *tiny_overrides(run), "--overwrite", "train.max_steps=1", "data.limit=300"]) == 0
    assert (run / "checkpoints" / "last").is_dir()


def test_transfer_unreadable_smiles_is_one_line_error(tiny_run):
    proc = subprocess.run(
        [sys.executable, "-m", "seqcvae", "transfer", "--checkpoint", str(tiny_run)]
        + ["--text", "CCO", "--text", "CC\u00dcO", "-c", "LogP=2"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "'CC\u00dcO'" in proc.stderr and "'\u00dc'" in proc.stderr


def test_transfer_input_reads_the_runs_sequence_column(tiny_run, tmp_path, capsys):
    table = tmp_path / "in.csv"
    table.write_text("id,SMILES\na,CCO\nb,c1ccccc1O\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    argv = ["transfer", "--checkpoint", str(tiny_run), "-c", "LogP=2", "--out", str(out)]
    assert main([*argv, "--input", str(table)]) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["source"] for r in rows] == ["CCO", "c1ccccc1O"]
    assert list(rows[0])[:3] == ["index", "source", "sequence"]
    assert all(r["target_LogP"] == "2" for r in rows)
    # another column by name, and a one-column table whatever its header
    other = tmp_path / "other.csv"
    other.write_text("mol,note\nCCN,x\n", encoding="utf-8")
    assert main([*argv, "--input", str(other), "--column", "mol"]) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        assert [r["source"] for r in csv.DictReader(fh)] == ["CCN"]
    single = tmp_path / "single.csv"
    single.write_text("molecule\nCCC\n", encoding="utf-8")
    assert main([*argv, "--input", str(single)]) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        assert [r["source"] for r in csv.DictReader(fh)] == ["CCC"]
    capsys.readouterr()
    assert main([*argv, "--input", str(other)]) == 2
    err = capsys.readouterr().err
    assert "'SMILES'" in err and "mol, note" in err


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "--n", "2", "--out", "{missing}/g.csv"],
        ["transfer", "--text", "CCO", "-c", "LogP=1", "--out", "{missing}/t.csv"],
        ["generate", "--n", "2", "--out", "{folder}"],
        ["generate", "--n", "2", "--reference", "{missing}/ref.csv"],
    ],
)
def test_bad_output_or_reference_path_is_one_line_error(tiny_run, tmp_path, command):
    argv = [a.format(missing=tmp_path / "no-such-folder", folder=tmp_path) for a in command]
    proc = subprocess.run(
        [sys.executable, "-m", "seqcvae", argv[0], "--checkpoint", str(tiny_run), *argv[1:]],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(tmp_path) in proc.stderr


def test_train_out_that_is_a_file_is_one_line_error(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me", encoding="utf-8")
    assert main(["train", *tiny_overrides(target), "train.max_steps=1"]) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and str(target) in err
    assert target.read_text(encoding="utf-8") == "keep me"


def test_info_summarises_a_checkpoint_for_people_and_as_json(tiny_run, capsys):
    assert main(["info", "--checkpoint", str(tiny_run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("checkpoint  ") and "{" not in out
    assert "conditions  LogP" in out and "trained on" in out and "parameters" in out
    assert "validation  -ELBO" in out and "active units" in out
    assert main(["info", "--checkpoint", str(tiny_run), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "smiles" and info["parameters"] > 0 and info["step"] > 0
    assert [c["name"] for c in info["conditions"]["continuous"]][:1] == ["LogP"]


def test_sigterm_stops_training_like_ctrl_c(tmp_path):
    """`kill PID` (SIGTERM) stops a training run as Ctrl-C does: checkpoints/last saved for --resume,
    exit status 143. (A background job started with `nohup ... &` ignores SIGINT, so SIGTERM is
    the stop a script can send.)"""
    import signal
    import subprocess
    import sys
    import time

    from seqcvae.models.checkpoint import load_checkpoint

    out = tmp_path / "run"
    argv = [sys.executable, "-m", "seqcvae", "train", *tiny_overrides(out), "train.max_steps=100000"]
    proc = subprocess.Popen(
        argv + ["train.epochs=1000", "data.limit=600", "train.threads=1"],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    metrics = out / "metrics.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "saving checkpoints/last" in err + _ and "terminated" in err
    assert load_checkpoint(out, which="last").meta["step"] > 0


@pytest.mark.parametrize(
    ("config", "path", "said"),
    [
        ("smiles_tiny", "missing.csv", "missing.csv' does not exist"),
        ("text_tiny", "missing.txt", "missing.txt' does not exist"),
        ("text_tiny", "folder", "is a directory, expected a file"),
        ("smiles_tiny", "", "data.train_path is empty: set data.train_path=FILE"),
    ],
)
def test_a_training_file_that_is_missing_or_a_folder_is_one_line_error(tmp_path, config, path, said):
    """The data cache hashes the file before reading it: a bad path must still get one line."""
    (tmp_path / "folder").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "seqcvae", "train", "--config", config, "--out", str(tmp_path / "run"),
         f"data.train_path={tmp_path / path if path else ''}", "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert said in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
