"""`seqcvae train --init-from RUN`: a new run that starts from a trained model (fine-tuning)."""

from __future__ import annotations

import json

import pytest
import torch

from seqcvae.cli import main
from seqcvae.generation.generator import Generator
from seqcvae.io.cache import file_sha256
from seqcvae.latent.reconstruct import reconstruct
from seqcvae.latent.seeds import check_seeds
from seqcvae.models.checkpoint import PRETRAINED_DIR, checkpoint_label, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def tune(source, out, data, *extra: str) -> int:
    return main(
        [
            "train",
            "--init-from",
            str(source),
            "--out",
            str(out),
            "--no-progress",
            f"data.train_path={str(data)!r}",
            f"data.val_path={str(data)!r}",
            "train.max_steps=2",
            "train.max_minutes=0",
            *extra,
        ]
    )


def test_a_run_from_a_trained_model_keeps_what_it_learned(overfit_run, tmp_path):
    """Two steps at a tiny learning rate from the overfit model: it still reconstructs its 24
    molecules exactly (its weights, tokenizer and conditions were taken), and the run records
    where it started; its step count and schedules are its own."""
    src, mols = overfit_run
    data = src.parent / "mols.csv"
    out = tmp_path / "tuned"
    assert tune(src, out, data, "train.lr=1e-7", "train.warmup_steps=0") == 0
    gen = Generator.load(out)
    _, summary = reconstruct(gen, check_seeds(gen, mols))
    assert summary["reconstruction"] == 1.0
    ckpt = load_checkpoint(out, which="last")
    assert ckpt.meta["step"] == 2
    assert ckpt.meta["init_from"]["step"] == load_checkpoint(src).meta["step"]
    source = load_checkpoint(src).path
    assert ckpt.meta["init_from"]["checkpoint"] == str(source.resolve())
    assert ckpt.meta["init_from"]["weights_sha256"] == file_sha256(source / "model.safetensors")
    assert ckpt.tokenizer == load_checkpoint(src).tokenizer
    assert ckpt.conditions == load_checkpoint(src).conditions
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"]["max_steps"] == 2 and saved["model"]["latent_dim"] == 16


def test_the_same_two_steps_from_scratch_learn_nothing(overfit_run, tmp_path):
    """The control for the test above: a fresh model of the same shape, trained the same two
    steps, reconstructs none of the molecules (so the weights really came from the source)."""
    src, mols = overfit_run
    data = src.parent / "mols.csv"
    cfg = json.loads((src / "config.json").read_text())
    cfg_path = tmp_path / "same.toml"
    lines = []
    for section in ("data", "model", "train"):
        lines.append(f"[{section}]")
        for key, value in cfg[section].items():
            lines.append(f"{key} = {json.dumps(value)}")
    cfg_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "fresh"
    argv = ["train", "--config", str(cfg_path), "--out", str(out), "--no-progress"]
    argv += ["train.max_steps=2", "train.lr=1e-7", "train.warmup_steps=0", f"data.train_path={str(data)!r}"]
    assert main(argv) == 0
    gen = Generator.load(out)
    _, summary = reconstruct(gen, check_seeds(gen, mols))
    assert summary["reconstruction"] == 0.0


def test_init_from_refuses_another_architecture(overfit_run, tmp_path, capsys):
    src, _ = overfit_run
    data = src.parent / "mols.csv"
    assert tune(src, tmp_path / "x", data, "model.latent_dim=8") == 2
    err = capsys.readouterr().err
    assert "model.latent_dim is 16" in err and "not 8" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_init_from_may_change_the_regularisers(overfit_run, tmp_path):
    """Dropout, weight drop and locked dropout shape no weight, so a fine-tune may set its own."""
    src, _ = overfit_run
    data = src.parent / "mols.csv"
    settings = ("model.dropout=0.2", "model.weight_drop=0.3", "model.locked_dropout=true")
    assert tune(src, tmp_path / "x", data, *settings) == 0
    model = json.loads((tmp_path / "x" / "config.json").read_text())["model"]
    assert (model["dropout"], model["weight_drop"], model["locked_dropout"]) == (0.2, 0.3, True)


def test_init_from_refuses_other_conditions(overfit_run, tmp_path, capsys):
    src, _ = overfit_run
    data = src.parent / "mols.csv"
    assert tune(src, tmp_path / "x", data, "data.properties=['QED']") == 2
    err = capsys.readouterr().err
    assert "data.properties must include LogP" in err and "Traceback" not in err
    assert tune(src, tmp_path / "x", data, "data.tags=['stars']") == 2
    assert "data.tags is []" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_init_from_adds_properties_with_fresh_weights(overfit_run, tmp_path, capsys):
    """A fine-tune may condition on more properties than its source: the kept one keeps its
    weights and scaling, the added one is scaled on the new data and starts with zero weights,
    so the model starts out as the source (it still reconstructs its molecules) and accepts the
    new condition."""
    import numpy as np
    from rdkit import Chem

    from seqcvae.chem.properties import compute_properties

    src, mols = overfit_run
    data = src.parent / "mols.csv"
    out = tmp_path / "tuned"
    args = ("data.properties=['TPSA', 'LogP']", "train.lr=1e-7", "train.warmup_steps=0")
    assert tune(src, out, data, *args) == 0
    assert "conditions: TPSA added" in capsys.readouterr().out
    before, after = load_checkpoint(src), load_checkpoint(out, which="last")
    assert [c["name"] for c in after.conditions["continuous"]] == ["LogP", "TPSA"]
    assert after.conditions["continuous"][0] == before.conditions["continuous"][0]
    tpsa = np.array([compute_properties(Chem.MolFromSmiles(m), ["TPSA"])["TPSA"] for m in mols])
    assert after.conditions["continuous"][1]["mean"] == pytest.approx(tpsa.mean(), rel=1e-6)
    w0, w1 = before.weights["condition.continuous.weight"], after.weights["condition.continuous.weight"]
    assert w1.shape == (w0.shape[0], 4)  # values LogP, TPSA, then flags LogP, TPSA
    assert torch.allclose(w1[:, [0, 2]], w0, atol=1e-4)  # the source's (two steps at lr 1e-7)
    assert w1[:, [1, 3]].abs().max() < 1e-4  # fresh: zero at the start
    gen = Generator.load(out)
    _, summary = reconstruct(gen, check_seeds(gen, mols))
    assert summary["reconstruction"] == 1.0
    records = gen.generate({"TPSA": 40.0, "LogP": 2.0}, n=4, seed=0)
    assert len(records) == 4 and records[0].targets == {"TPSA": 40.0, "LogP": 2.0}


def test_init_from_refuses_tokens_outside_the_vocabulary(overfit_run, tmp_path, capsys):
    """Molecules with tokens the model has never seen are named with the rows they affect; the
    run directory is not left half-written with checkpoints."""
    src, mols = overfit_run
    vocab = set(load_checkpoint(src).tokenizer["tokens"])
    assert "[Se]" not in vocab and "I" not in vocab
    data = tmp_path / "new.csv"
    extra = ["c1cc[se]c1", "CC[Se]C", "CCI"]
    assert "[se]" not in vocab
    data.write_text("SMILES\n" + "\n".join([*mols, *extra]) + "\n", encoding="utf-8")
    assert tune(src, tmp_path / "x", data) == 2
    err = capsys.readouterr().err.strip()
    assert "6 rows have tokens outside the vocabulary" in err  # 3 in training + 3 in validation
    assert "'[se]' (2 rows)" in err and "'[Se]' (2 rows)" in err and "'I' (2 rows)" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "data.unknown_tokens=drop" in err
    assert not (tmp_path / "x" / "checkpoints").exists()
    # data.unknown_tokens=drop trains on the other rows, and says how many it dropped
    assert tune(src, tmp_path / "y", data, "data.unknown_tokens=drop") == 0
    out = capsys.readouterr().out
    assert "6 rows with tokens outside the model's vocabulary dropped; train 24, validation 24" in out
    # resumed, it drops them again: the same rows, the same batches
    assert main(["train", "--resume", str(tmp_path / "y"), "--no-progress", "train.max_steps=3"]) == 0
    assert "6 rows with tokens outside the model's vocabulary dropped; train 24" in capsys.readouterr().out


def test_resume_and_init_from_are_exclusive(overfit_run, tmp_path, capsys):
    src, _ = overfit_run
    assert main(["train", "--resume", str(src), "--init-from", str(src)]) == 2
    assert "--init-from" in capsys.readouterr().err


def test_init_from_a_missing_model_is_one_line(tmp_path, capsys):
    assert main(["train", "--init-from", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_a_shipped_model_is_recorded_by_its_name(tmp_path):
    """A run started from pretrained:NAME records that name, not the directory of this install."""
    assert checkpoint_label(PRETRAINED_DIR / "moses") == "pretrained:moses"
    assert checkpoint_label(tmp_path / "run" / "..") == str(tmp_path)
    for name in ("moses", "moses-latent"):  # both shipped models are later stages of themselves
        meta = json.loads((PRETRAINED_DIR / name / "meta.json").read_text())
        assert meta["init_from"]["checkpoint"] == f"pretrained:{name}"


def test_info_shows_a_chain_of_fine_tunes(tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(PRETRAINED_DIR / "moses", run)
    meta = json.loads((run / "meta.json").read_text())
    first = {"checkpoint": "pretrained:moses", "step": 3}
    meta["init_from"] = {"checkpoint": "/x/tuned", "step": 7, "from": first}
    meta.pop("tuning", None)  # a trained (not tuned) run, with validation figures
    meta["metrics"] = {"val_nelbo": 14.33, "val_validity": 0.939}
    (run / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    assert main(["info", "--checkpoint", str(run)]) == 0
    out = capsys.readouterr().out
    assert "started     from /x/tuned (its step 7)" in out
    assert "which started from pretrained:moses (its step 3)" in out
    assert f"valid {meta['metrics']['val_validity']:.3g} (prior samples at T 1)" in out
