import json
import pickle

import pytest
import torch

from seqcvae.errors import CheckpointError
from seqcvae.generation.generator import Generator
from seqcvae.models.checkpoint import CheckpointData, load_checkpoint, save_checkpoint


def _logits(gen: Generator) -> torch.Tensor:
    torch.manual_seed(0)
    tokens = torch.tensor([[1, 5, 5, 9, 2]])
    lengths = torch.tensor([4])
    values = torch.zeros(1, gen.conditions.num_continuous)
    c = gen.model.embed_conditions(values, torch.ones_like(values), torch.zeros(1, 0, dtype=torch.long))
    with torch.no_grad():
        mu, _ = gen.model.encode(tokens, lengths, c)
        return gen.model.decode(tokens[:, :-1], mu, c)


def test_save_load_identical_logits(tiny_run, tmp_path):
    gen = Generator.load(tiny_run)
    ckpt = load_checkpoint(tiny_run)
    save_checkpoint(tmp_path / "copy", ckpt)
    again = Generator.load(tmp_path / "copy")
    assert torch.equal(_logits(gen), _logits(again))
    assert again.tokenizer.to_dict() == gen.tokenizer.to_dict()
    assert again.conditions.to_dict() == gen.conditions.to_dict()


def test_saved_model_equals_the_trained_model_in_memory(tmp_path, one_thread):
    """checkpoints/last holds exactly the weights the trainer ended with: the loaded model has
    the same tensors, logits and samples as the in-memory one."""
    from seqcvae.config import load_config
    from seqcvae.data.splits import prepare_run_data
    from seqcvae.recipes.train import diagnostics_validator
    from seqcvae.training.trainer import Trainer

    cfg = load_config("smiles_tiny", ["train.max_steps=12", "train.device=cpu"])
    prepared = prepare_run_data(cfg)
    validate = diagnostics_validator(cfg)
    trainer = Trainer(cfg, tmp_path, prepared, validate=validate, log=lambda _m: None, progress=False)
    trainer.fit()
    trained = trainer.model.eval()
    loaded = Generator.load(tmp_path, which="last", precision="fp32")
    mine, theirs = trained.state_dict(), loaded.model.state_dict()
    assert list(mine) == list(theirs)
    assert all(torch.equal(mine[k].cpu(), theirs[k]) for k in mine)
    in_memory = Generator(trained, prepared.tokenizer, prepared.conditions, cfg)
    assert torch.equal(_logits(in_memory), _logits(loaded))
    request = {"LogP": 2.0, "MolWt": 300.0}
    assert in_memory.sample_sequences([request] * 8, seed=5) == loaded.sample_sequences([request] * 8, seed=5)
    assert loaded.tokenizer.to_dict() == prepared.tokenizer.to_dict()
    assert loaded.conditions.to_dict() == prepared.conditions.to_dict()


def test_resolves_run_dir_and_missing_paths(tiny_run, tmp_path):
    assert load_checkpoint(tiny_run, which="last").path.name == "last"
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="neither a checkpoint"):
        load_checkpoint(tmp_path)


def _copy(tiny_run, tmp_path):
    ckpt = load_checkpoint(tiny_run)
    dst = tmp_path / "ck"
    save_checkpoint(dst, ckpt)
    return dst


def test_other_format_version_is_refused(tiny_run, tmp_path):
    dst = _copy(tiny_run, tmp_path)
    meta = json.loads((dst / "meta.json").read_text())
    meta["format_version"] = 99
    (dst / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(dst)


def test_truncated_weights_are_a_clear_error(tiny_run, tmp_path):
    dst = _copy(tiny_run, tmp_path)
    w = dst / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(dst)


def test_pickle_in_place_of_weights_is_never_executed(tiny_run, tmp_path):
    dst = _copy(tiny_run, tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (dst / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(dst)
    assert not marker.exists()


def test_crash_during_write_keeps_previous_checkpoint(tiny_run, tmp_path, monkeypatch):
    dst = _copy(tiny_run, tmp_path)
    ckpt = load_checkpoint(dst)
    import seqcvae.models.checkpoint as mod

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(mod, "save_file", boom)
    with pytest.raises(OSError):
        save_checkpoint(dst, CheckpointData(**{**vars(ckpt), "meta": {**ckpt.meta, "step": 999}}))
    monkeypatch.undo()
    assert load_checkpoint(dst).meta["step"] == ckpt.meta["step"]


def _cut_before_the_new_checkpoint_is_renamed_in(monkeypatch, final):
    """os.replace fails (as a power cut would stop it) when it would put the new directory at
    `final`: the previous checkpoint has been moved aside to <final>.old and nothing is at final."""
    import os

    real = os.replace

    def cut(src, dst):
        if os.fspath(dst) == os.fspath(final):
            raise OSError("power cut")
        real(src, dst)

    monkeypatch.setattr(os, "replace", cut)


def test_save_cut_between_the_renames_loads_the_previous_checkpoint(tiny_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    last = run / "checkpoints" / "last"
    first = load_checkpoint(tiny_run, which="last", with_train_state=True)
    save_checkpoint(last, first)
    _cut_before_the_new_checkpoint_is_renamed_in(monkeypatch, last)
    with pytest.raises(OSError, match="power cut"):
        save_checkpoint(last, CheckpointData(**{**vars(first), "meta": {**first.meta, "step": 999}}))
    monkeypatch.undo()
    assert not last.exists() and (run / "checkpoints" / "last.old" / "meta.json").exists()
    # By the run directory and by the checkpoint's own path, with and without training state.
    for path in (run, last, str(last)):
        ckpt = load_checkpoint(path, which="last", with_train_state=True)
        assert ckpt.meta["step"] == first.meta["step"]
        assert ckpt.path == run / "checkpoints" / "last.old"
        assert load_checkpoint(path, which="last").meta["step"] == first.meta["step"]
    # The next save puts a checkpoint in place again and only then drops the old one.
    save_checkpoint(last, CheckpointData(**{**vars(first), "meta": {**first.meta, "step": 1000}}))
    assert load_checkpoint(last).meta["step"] == 1000
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last"]


def test_save_after_a_cut_keeps_the_old_checkpoint_until_the_new_one_is_in_place(
    tiny_run, tmp_path, monkeypatch
):
    """After a cut only <name>.old is left; a second cut in the next save must not lose it."""
    last = tmp_path / "last"
    first = load_checkpoint(tiny_run, which="last", with_train_state=True)
    save_checkpoint(last, first)
    _cut_before_the_new_checkpoint_is_renamed_in(monkeypatch, last)
    for step in (999, 1000):
        with pytest.raises(OSError, match="power cut"):
            save_checkpoint(last, CheckpointData(**{**vars(first), "meta": {**first.meta, "step": step}}))
        assert load_checkpoint(last).meta["step"] == first.meta["step"]


def test_save_fsyncs_the_files_and_then_the_parent_directory(tiny_run, tmp_path, monkeypatch):
    import os
    import stat

    import seqcvae.io.atomic as atomic

    synced: list[tuple[str, str]] = []
    real = os.fsync

    def spy(fd):
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        synced.append((kind, os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    save_checkpoint(
        tmp_path / "checkpoints" / "last", load_checkpoint(tiny_run, which="last", with_train_state=True)
    )
    files = {name for kind, name in synced if kind == "file"}
    assert {"meta.json", "model.safetensors", "train_state.safetensors", "train_state.json"} <= files
    assert synced[-1] == ("dir", "checkpoints")  # the rename itself is on disk


def test_cuda_rng_state_round_trips_through_a_resumable_checkpoint(tiny_run, tmp_path, monkeypatch):
    """Where CUDA is in use, dropout on the GPU draws from the CUDA generators: their states are
    saved with the CPU ones and restored on resume. Faked on CPU: two devices whose states are
    byte tensors."""
    from seqcvae.models.checkpoint import rng_state, set_rng_state

    states = [torch.arange(16, dtype=torch.uint8), torch.arange(16, 32, dtype=torch.uint8)]
    restored: dict[int, torch.Tensor] = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [s.clone() for s in states])
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: restored.__setitem__(device, s))
    ckpt = load_checkpoint(tiny_run, which="last", with_train_state=True)
    ckpt.train_state = {**ckpt.train_state, "rng": rng_state()}
    save_checkpoint(tmp_path / "last", ckpt)
    loaded = load_checkpoint(tmp_path / "last", with_train_state=True)
    set_rng_state(loaded.train_state["rng"])
    assert sorted(restored) == [0, 1]
    assert all(torch.equal(restored[i], states[i]) for i in (0, 1))
    # Resumed on fewer devices (or on the CPU): the states of the devices there are restored.
    restored.clear()
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    set_rng_state(loaded.train_state["rng"])
    assert sorted(restored) == [0]
    restored.clear()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    set_rng_state(loaded.train_state["rng"])
    assert restored == {}


def test_rng_state_without_cuda_in_use_has_no_cuda_entry(monkeypatch):
    from seqcvae.models.checkpoint import rng_state, set_rng_state

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    state = rng_state()
    assert "cuda" not in state
    set_rng_state(state)  # and older checkpoints, which never had one, restore as before


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_rng_state_is_restored_on_a_gpu():
    from seqcvae.models.checkpoint import rng_state, set_rng_state

    torch.zeros(1, device="cuda")  # CUDA in use
    state = rng_state()
    assert "cuda" in state
    drawn = torch.rand(8, device="cuda")
    set_rng_state(state)
    assert torch.equal(torch.rand(8, device="cuda"), drawn)
