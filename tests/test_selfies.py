"""data.representation = "selfies": the model reads and writes SELFIES tokens; files, checks and
outputs stay SMILES, and every sample is a molecule."""

from __future__ import annotations

import json

import pytest

from seqcvae.cli import main
from tests.conftest import read_sample, tiny_overrides

pytest.importorskip("selfies")


def test_the_tokenizer_round_trips_molecules():
    from rdkit import Chem

    from seqcvae.tokenizers import load_tokenizer
    from seqcvae.tokenizers.selfies import SelfiesTokenizer

    smiles = [r["SMILES"] for r in read_sample(200)]
    tok = SelfiesTokenizer.train(smiles)
    again = load_tokenizer(json.loads(json.dumps(tok.to_dict())))
    for s in smiles:
        ids = again.encode(s)
        assert 3 not in ids  # no <unk> for the molecules it was trained on
        assert Chem.CanonSmiles(again.decode([1, *ids, 2])) == Chem.CanonSmiles(s)
    assert all(t.startswith("[") and t.endswith("]") for t in tok.vocab.tokens[4:])


def test_a_selfies_run_samples_molecules_only(tmp_path, capsys):
    """Even a model trained for 30 steps writes SMILES that RDKit reads (an untrained SMILES model
    of the same size writes almost none); the run's tokenizer is SELFIES."""
    out = tmp_path / "sf"
    assert main(["train", *tiny_overrides(out), "train.max_steps=30", "data.representation=selfies"]) == 0
    capsys.readouterr()
    samples = tmp_path / "s.csv"
    assert main(["generate", "--checkpoint", str(out), "--n", "60", "--json", "--out", str(samples)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["validity"] >= 0.95
    assert json.loads((out / "checkpoints" / "best" / "tokenizer.json").read_text())["kind"] == "selfies"
    from rdkit import Chem

    for row in samples.read_text().splitlines()[1:]:  # on disk: SMILES, not SELFIES
        index, sequence, canonical = row.split(",")[:3]
        if canonical:
            assert Chem.CanonSmiles(sequence) == canonical
