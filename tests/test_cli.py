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
        "smiles",
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


def test_resume_continues_to_same_weights(tmp_path):
    """Train 20 steps straight vs 10 + resume 10: identical weights (CPU, same seed)."""
    import torch

    from seqcvae.training.checkpoint import load_checkpoint

    straight, split = tmp_path / "straight", tmp_path / "split"
    # Constant LR: the schedule must not depend on max_steps, which differs between the halves.
    common = ["train.lr_schedule=constant", "train.epochs=5", "data.limit=600"]
    assert main(["train", *tiny_overrides(straight), *common, "train.max_steps=20"]) == 0
    # 540 training rows / batch 64 = 9 steps per epoch: the split falls inside epoch 2.
    assert main(["train", *tiny_overrides(split), *common, "train.max_steps=10"]) == 0
    assert main(["train", "--resume", str(split), "--no-progress", "train.max_steps=20"]) == 0
    a = load_checkpoint(straight, which="last").weights
    b = load_checkpoint(split, which="last").weights
    assert load_checkpoint(split, which="last").meta["step"] == 20
    for k in a:
        assert torch.equal(a[k], b[k]), k


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
