"""evaluation/summary.py: the summaries of generated records, as pure functions."""

from __future__ import annotations

import math

import pytest

from seqcvae.evaluation.summary import PropertyScoring, smiles_summary, text_summary
from seqcvae.generation.records import Record

LOGP = PropertyScoring("LogP", True, "rdkit", "LogP (RDKit)")
PIC50 = PropertyScoring("pIC50", False, "file", "pIC50 (cannot be measured)")


def _rec(i: int, smi: str | None, logp: float | None, targets: dict[str, float]) -> Record:
    props = {"LogP": logp} if logp is not None else {}
    return Record(i, smi or "C(", smi, smi is not None, props, targets)


def test_smiles_summary_scores_measured_properties_and_labels_the_others():
    t = {"LogP": 2.0, "pIC50": 7.0}
    records = [_rec(0, "CCO", 1.0, t), _rec(1, "CCN", 2.5, {**t, "LogP": 3.0}), _rec(2, None, None, t)]
    s = smiles_summary(records, {"CCO"}, [LOGP, PIC50], notes=["a note"])
    assert (s["generated"], s["validity"], s["uniqueness"], s["novelty"]) == (3.0, 2 / 3, 1.0, 0.5)
    logp = s["properties"]["LogP"]
    assert logp["n"] == 2.0 and logp["mae"] == pytest.approx((1.0 + 0.5) / 2)
    assert (logp["target_mean"], logp["measured_by"], logp["label"]) == (2.5, "RDKit", "LogP (RDKit)")
    pic50 = s["properties"]["pIC50"]
    assert pic50["n"] == 0.0 and pic50["target_mean"] == 7.0 and math.isnan(pic50["mae"])
    assert (pic50["measured_by"], pic50["trained_on"]) == (None, "file")
    assert list(s["properties"]) == ["LogP", "pIC50"] and s["notes"] == ["a note"]
    assert "notes" not in smiles_summary(records, None, [LOGP])


def test_text_summary():
    s = text_summary(["a b c", "a b a", "a b c", "d"])
    assert s == {"generated": 4.0, "uniqueness": 0.75, "distinct_1": 0.4, "distinct_2": 0.5}
    assert math.isnan(text_summary([])["uniqueness"])
