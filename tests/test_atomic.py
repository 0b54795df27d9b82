"""seqcvae.io.atomic: content round trips, failures leave the old file, the parent is fsynced."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from seqcvae.io import atomic
from seqcvae.io.atomic import atomic_open, atomic_write_bytes, atomic_write_text, publish_dir, replace_dir


class Boom(Exception):
    pass


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every os.fsync call as (kind, path): kind 'dir' or 'file'."""
    calls: list[tuple[str, str]] = []
    real = os.fsync

    def spy(fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        calls.append((kind, os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    return calls


def test_bytes_and_text_round_trip(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01payload")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01payload"
    atomic_write_text(tmp_path / "b.txt", "héllo\nwörld\n")
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo\nwörld\n"
    atomic_write_text(tmp_path / "b.txt", "replaced")
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "replaced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt"]


def test_streaming_writers_round_trip(tmp_path: Path) -> None:
    lines = [f"C{'C' * i}O\n" for i in range(1000)]
    with atomic_open(tmp_path / "ref.txt.gz", "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as fh:
        fh.writelines(lines)
    with gzip.open(tmp_path / "ref.txt.gz", "rt", encoding="utf-8") as fh:
        assert fh.readlines() == lines
    arrays = {"x": np.arange(7), "s": np.array(["a", "bc"])}
    with atomic_open(tmp_path / "stats.npz", "wb") as fh:
        np.savez(fh, **arrays)
    with np.load(tmp_path / "stats.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["s", "x"]
        np.testing.assert_array_equal(z["x"], arrays["x"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.txt.gz", "stats.npz"]


def test_failure_mid_write_keeps_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("old content", encoding="utf-8")
    with pytest.raises(Boom), atomic_open(path, "w") as fh:
        fh.write("new content, half written")
        fh.flush()
        raise Boom
    assert path.read_text(encoding="utf-8") == "old content"
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]
    # and with no old file: nothing appears
    with pytest.raises(Boom), atomic_open(tmp_path / "new.bin", "wb") as fh:
        fh.write(b"partial")
        raise Boom
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_file_then_parent_directory_fsynced(tmp_path: Path, fsynced: list[tuple[str, str]]) -> None:
    path = tmp_path / "out.txt"
    atomic_write_text(path, "x")
    assert fsynced[-1] == ("dir", str(tmp_path))
    assert fsynced[0][0] == "file" and fsynced[0][1] != str(path)  # the temporary, before the rename


def test_rejects_read_and_append_modes(tmp_path: Path) -> None:
    for mode in ("r", "a", "w+"):
        with pytest.raises(ValueError, match="mode"), atomic_open(tmp_path / "x", mode):
            pass
    assert list(tmp_path.iterdir()) == []


def _tree(root: Path, text: str) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "meta.json").write_text(text, encoding="utf-8")
    (root / "sub" / "rows.bin").write_bytes(text.encode() * 3)
    return root


def test_publish_dir_first_writer_wins(tmp_path: Path, fsynced: list[tuple[str, str]]) -> None:
    final = tmp_path / "store"
    assert publish_dir(_tree(tmp_path / ".tmp-a", "a"), final)
    assert (final / "meta.json").read_text(encoding="utf-8") == "a"
    assert ("dir", str(tmp_path)) in fsynced  # the parent, after the rename
    kinds = {k for k, _ in fsynced}
    assert kinds == {"file", "dir"}
    second = _tree(tmp_path / ".tmp-b", "b")
    assert not publish_dir(second, final)
    assert (final / "meta.json").read_text(encoding="utf-8") == "a"
    assert second.exists()  # the caller decides what to do with theirs


def test_publish_dir_other_errors_raise(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        publish_dir(_tree(tmp_path / ".tmp", "a"), tmp_path / "missing-parent" / "store")


def test_replace_dir_swaps_in_new_content(tmp_path: Path, fsynced: list[tuple[str, str]]) -> None:
    final = tmp_path / "ckpt"
    replace_dir(_tree(tmp_path / ".tmp-1", "one"), final)
    replace_dir(_tree(tmp_path / ".tmp-2", "two"), final)
    assert (final / "meta.json").read_text(encoding="utf-8") == "two"
    assert (final / "sub" / "rows.bin").read_bytes() == b"twotwotwo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert fsynced[-1] == ("dir", str(tmp_path))


def test_replace_dir_keeps_a_left_over_old_until_the_new_one_is_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cut between the renames leaves only FINAL.old; the next swap, cut at the same point, must
    still leave it (not delete it first and then find nothing to move aside)."""
    final = tmp_path / "ckpt"
    replace_dir(_tree(tmp_path / ".tmp-1", "one"), final)
    real = os.replace

    def cut(src: object, dst: object) -> None:
        if os.fspath(dst) == os.fspath(final):  # type: ignore[call-overload]
            raise Boom
        real(src, dst)  # type: ignore[call-overload]

    monkeypatch.setattr(atomic.os, "replace", cut)
    for n in (2, 3):
        with pytest.raises(Boom):
            replace_dir(_tree(tmp_path / f".tmp-{n}", str(n)), final)
        assert not final.exists()
        assert (tmp_path / "ckpt.old" / "meta.json").read_text(encoding="utf-8") == "one"
    monkeypatch.undo()
    replace_dir(_tree(tmp_path / ".tmp-4", "four"), final)
    assert (final / "meta.json").read_text(encoding="utf-8") == "four"
    assert not (tmp_path / "ckpt.old").exists()
