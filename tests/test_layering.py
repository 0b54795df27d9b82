"""Imports point one way: leaf packages -> data -> models -> generation / training -> evaluation ->
sweep -> recipes -> cli. This test reads every module's imports (also those inside functions) and
fails when one points against that flow, or when a leaf package that must not use torch does.
Inside cli and recipes the command modules are peers (cli/generate.py never imports cli/train.py,
recipes never import each other), and every cli command is registered in cli/app.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "seqcvae"

# Rank of each top-level part of the package; a module may import its own part and lower ranks.
# Parts of equal rank other than the leaves are peers and must not import each other.
LEAF = 0
RANKS: dict[str, int] = {
    "errors": LEAF,
    "_toml": LEAF,
    "config": LEAF,
    "config_migrations": LEAF,
    "fields": LEAF,
    "paths": LEAF,
    "io": LEAF,
    "stats": LEAF,
    "parallel": LEAF,
    "formatting": LEAF,
    "devices": LEAF,
    "distributed": LEAF,
    "tokenizers": LEAF,
    "chem": LEAF,
    "text": LEAF,
    "data": 1,
    "models": 2,
    "generation": 3,
    "training": 3,
    "evaluation": 4,
    "latent": 4,
    "tuning": 4,
    "sweep": 5,
    "recipes": 6,
    "cli": 7,
    "__main__": 8,
    "__init__": 8,  # the public API re-exports from anywhere
}
# Edges the ranks allow but the design does not: models use nothing but torch and their config;
# evaluation and sweep use data, generation and chem, never the training package.
FORBIDDEN: set[tuple[str, str]] = {
    ("models", "tokenizers"),
    ("models", "data"),
    ("models", "chem"),
    ("models", "text"),
}
# Edges that still exist and are being removed (issue 13); an entry that no longer occurs fails too,
# so this list only shrinks.
KNOWN: set[tuple[str, str]] = set()
# Inside these parts each command has its module, a peer of the others: of its own part it imports
# only the shared modules; the assembling modules (parser, entry points) alone import the commands.
# part: (shared modules, assembling modules)
PEERS: dict[str, tuple[set[str], set[str]]] = {
    "cli": ({"common"}, {"app", "__init__", "__main__"}),
    "recipes": (set(), {"__init__"}),
}
# Leaf parts that must work without torch (chem is the only RDKit user; it knows nothing of torch).
NO_TORCH = {"errors", "_toml", "config", "fields", "paths", "io", "stats", "parallel", "formatting"}
NO_TORCH |= {"chem", "text"}


def _part(module_path: Path, root: Path = PACKAGE) -> str:
    rel = module_path.relative_to(root)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, absolute dotted module) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(root.parent).with_suffix("")
    pkg_parts = list(rel.parts[:-1])
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            if mod == "seqcvae" or (mod.startswith("seqcvae.") and mod.count(".") == 1):
                # `from seqcvae import cli`, `from seqcvae.cli import common` name modules directly
                out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    return out


def _edges(root: Path = PACKAGE) -> list[tuple[str, int, str, str]]:
    """(file, line, from part, to part) for every import of another part of seqcvae."""
    edges = []
    for path in sorted(root.rglob("*.py")):
        src = _part(path, root)
        for line, mod in _imports(path, root):
            parts = mod.split(".")
            if parts[0] != "seqcvae" or len(parts) < 2:
                continue
            dst = parts[1]
            edge = (str(path.relative_to(root)), line, src, dst)
            if dst != src and edge not in edges:
                edges.append(edge)
    return edges


def _within(part: str, root: Path = PACKAGE) -> list[tuple[str, int, str, str]]:
    """(file, line, from module, to module) for every import between the modules of one part
    (cli/train.py is module "train" of part "cli")."""
    edges = []
    for path in sorted((root / part).rglob("*.py")):
        src = path.relative_to(root / part).parts[0].removesuffix(".py")
        for line, mod in _imports(path, root):
            parts = mod.split(".")
            if parts[:2] == ["seqcvae", part] and len(parts) > 2 and parts[2] != src:
                edge = (str(path.relative_to(root)), line, src, parts[2])
                if edge not in edges:
                    edges.append(edge)
    return edges


def test_every_part_has_a_rank() -> None:
    parts = {_part(p) for p in PACKAGE.rglob("*.py")}
    assert not parts - set(RANKS), f"add these parts to RANKS in {__file__}: {sorted(parts - set(RANKS))}"


def _against_flow(src: str, dst: str) -> bool:
    rs, rd = RANKS[src], RANKS.get(dst, LEAF)
    return rd > rs or (rd == rs and rs != LEAF) or (src, dst) in FORBIDDEN


def test_imports_point_one_way() -> None:
    bad, seen = [], set()
    for file, line, src, dst in _edges():
        if not _against_flow(src, dst):
            continue
        seen.add((src, dst))
        if (src, dst) not in KNOWN:
            bad.append(f"seqcvae/{file}:{line}: {src} (rank {RANKS[src]}) imports {dst}")
    assert not bad, "imports against the documented flow:\n" + "\n".join(bad)
    assert not KNOWN - seen, f"remove from KNOWN, these edges are gone: {sorted(KNOWN - seen)}"


def test_command_modules_are_peers() -> None:
    bad = []
    for part, (shared, assembling) in PEERS.items():
        for file, line, src, dst in _within(part):
            if src not in assembling and dst not in shared:
                bad.append(f"seqcvae/{file}:{line}: {part}/{src} imports {part}/{dst}")
    assert not bad, "command modules importing each other (share through common):\n" + "\n".join(bad)


def test_every_cli_command_is_registered() -> None:
    from seqcvae.cli.app import COMMANDS

    shared, assembling = PEERS["cli"]
    modules = {p.stem for p in (PACKAGE / "cli").glob("*.py")} - shared - assembling
    registered = [c.__name__.rsplit(".", 1)[-1] for c in COMMANDS]  # type: ignore[attr-defined]
    assert sorted(registered) == sorted(modules), "add each command module to COMMANDS in cli/app.py"
    for command in COMMANDS:
        assert callable(command.add_parser) and callable(command.run), command


def test_the_parser_loads_neither_torch_nor_rdkit_nor_recipes() -> None:
    # `seqcvae --help` and usage errors stay fast: a command imports its recipe when it runs.
    code = (
        "import sys; from seqcvae.cli import build_parser; build_parser(); print(' '.join(m for m in "
        "sys.modules if m in ('torch', 'rdkit') or m.startswith('seqcvae.recipes')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_leaf_packages_do_not_import_torch() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _part(path) not in NO_TORCH:
            continue
        for line, mod in _imports(path):
            if mod.split(".")[0] == "torch":
                bad.append(f"seqcvae/{path.relative_to(PACKAGE)}:{line}: imports {mod}")
    assert not bad, "leaf packages importing torch:\n" + "\n".join(bad)


def test_the_check_sees_violations(tmp_path: Path) -> None:
    # The checker itself must be able to fail: absolute, relative and in-function imports are seen.
    root = tmp_path / "seqcvae"
    (root / "data").mkdir(parents=True)
    (root / "data" / "a.py").write_text(
        "from seqcvae.training import trainer\n"
        "def f():\n    from ..evaluation.report import x\n"
        "from . import tables\n",
        encoding="utf-8",
    )
    assert _edges(root) == [
        ("data/a.py", 1, "data", "training"),
        ("data/a.py", 3, "data", "evaluation"),
    ]
    assert _against_flow("recipes", "cli") and not _against_flow("cli", "recipes")
    # ... and command modules of cli importing each other, however they name them
    (root / "cli").mkdir()
    (root / "cli" / "generate.py").write_text(
        "from seqcvae.cli import common, train\nfrom .transfer import read\n"
        "from seqcvae.cli.common import x\n",
        encoding="utf-8",
    )
    assert _within("cli", root) == [
        ("cli/generate.py", 1, "generate", "common"),
        ("cli/generate.py", 1, "generate", "train"),
        ("cli/generate.py", 2, "generate", "transfer"),
        ("cli/generate.py", 3, "generate", "common"),
    ]
