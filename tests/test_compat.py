"""Python-version compatibility: the package claims 3.10 (requires-python), so nothing may need 3.11."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIM = Path("seqcvae/_toml.py")
TOMLLIB_IMPORT = re.compile(r"^\s*(import\s+tomllib\b|from\s+tomllib\s+import\b)", re.MULTILINE)


def _pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_tomllib_is_imported_only_by_the_shim():
    """tomllib is 3.11+; everything else reads TOML through seqcvae._toml (tomli on 3.10)."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("seqcvae", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.relative_to(ROOT) != SHIM and TOMLLIB_IMPORT.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"import TOML via seqcvae._toml, not tomllib, in: {offenders}"
    assert TOMLLIB_IMPORT.search((ROOT / SHIM).read_text(encoding="utf-8"))


def test_tomli_is_a_dependency_below_python_311():
    deps = [d.replace(" ", "").replace('"', "'") for d in _pyproject()["project"]["dependencies"]]
    assert any(d.startswith("tomli") and "python_version<'3.11'" in d for d in deps), deps


def test_tools_target_the_oldest_supported_python():
    project = _pyproject()
    assert project["project"]["requires-python"] == ">=3.10"
    assert project["tool"]["ruff"]["target-version"] == "py310"
    assert project["tool"]["mypy"]["python_version"] == "3.10"


def test_toml_shim_reads_toml():
    from seqcvae._toml import TOMLDecodeError, loads

    assert loads("a = 1\n[b]\nc = 'x'\n") == {"a": 1, "b": {"c": "x"}}
    with pytest.raises(TOMLDecodeError):
        loads("a = = 1")
