"""Randomised SMILES for the encoder (train.randomize_smiles)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqcvae.chem.mol import canonicalize, random_smiles
from seqcvae.config import RunConfig
from seqcvae.data.conditions import EncodedConditions
from seqcvae.data.dataset import TokenDataset
from seqcvae.tokenizers.smiles import SmilesTokenizer
from seqcvae.training.augment import encoder_view

pytestmark = pytest.mark.chem

MOLS = ["CC(=O)Nc1ccc(O)cc1", "CCN(CC)C(=O)c1ccccc1", "COc1ccc2[nH]cc(CCN)c2c1", "CCO", "C"]


def _batch(tok: SmilesTokenizer, mols: list[str]):
    n = len(mols)
    conds = EncodedConditions(
        np.zeros((n, 0), np.float32), np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
    )
    ds = TokenDataset.from_ids([tok.encode(m) for m in mols], conds)
    return ds.collate(list(range(n)))


def test_random_smiles_is_the_same_molecule_and_seeded():
    for m in MOLS[:3]:
        spellings = {random_smiles(m, s) for s in range(10)}
        assert len(spellings) > 1
        assert {canonicalize(x) for x in spellings} == {canonicalize(m)}  # type: ignore[arg-type]
        assert random_smiles(m, 3) == random_smiles(m, 3)
    assert random_smiles("C1CC", 0) is None


def test_encoder_view_spells_each_molecule_another_way():
    tok = SmilesTokenizer.train(MOLS + ["c1ccccc1CN", "OCC(N)=O"])
    b = _batch(tok, MOLS)
    assert encoder_view(b, tok, 0.0, 100, torch.Generator().manual_seed(0)) is None
    tokens, lengths = encoder_view(b, tok, 1.0, 100, torch.Generator().manual_seed(0))  # type: ignore[misc]
    decoded = [tok.decode(tokens[i, 1 : int(lengths[i])].tolist()) for i in range(len(MOLS))]
    assert [canonicalize(d) for d in decoded] == [canonicalize(m) for m in MOLS]
    assert sum(d != m for d, m in zip(decoded, MOLS)) >= 2
    assert (tokens[torch.arange(len(MOLS)), lengths] == 2).all()  # <eos> after each row
    again = encoder_view(b, tok, 1.0, 100, torch.Generator().manual_seed(0))
    assert again is not None and torch.equal(again[0], tokens)
    # a spelling longer than max_length, or with tokens the vocabulary lacks, keeps the row's own
    short, short_len = encoder_view(b, tok, 1.0, 2, torch.Generator().manual_seed(0))  # type: ignore[misc]
    assert tok.decode(short[0, 1 : int(short_len[0])].tolist()) == MOLS[0]


def test_version_3_config_gains_randomize_smiles():
    stored = RunConfig().to_dict()
    stored["config_version"] = 3
    del stored["train"]["randomize_smiles"]
    assert RunConfig.from_stored(stored).train.randomize_smiles == 0.0


def test_training_reads_random_spellings(tmp_path):
    """A run with randomize_smiles trains (the encoder sees other strings) and differs from one
    without; without it the weights are those of the same run before the option existed
    (tests/test_golden*.py hold that against committed checkpoints)."""
    from safetensors.torch import load_file

    from seqcvae.cli import main

    def run(name: str, p: float) -> dict[str, torch.Tensor]:
        out = tmp_path / name
        args = ["train", "--config", "smiles_tiny", "--out", str(out), "--no-progress"]
        assert main([*args, "train.max_steps=6", "data.limit=300", f"train.randomize_smiles={p}"]) == 0
        return load_file(str(out / "checkpoints" / "last" / "model.safetensors"))

    plain, randomised = run("plain", 0.0), run("random", 0.5)
    assert any(not torch.equal(plain[k], randomised[k]) for k in plain)
