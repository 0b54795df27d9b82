import math

import numpy as np
import pytest
from scipy import stats

from seqcvae.chem.metrics import property_control, set_metrics
from seqcvae.chem.mol import canonicalize
from seqcvae.chem.properties import analyse_smiles
from seqcvae.stats import rankdata, spearman


def test_rankdata_matches_scipy():
    x = np.array([3.0, 1.0, 2.0, 2.0, 5.0, 1.0])
    np.testing.assert_allclose(rankdata(x), stats.rankdata(x))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spearman_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    y[:20] = np.round(y[:20])  # some ties
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_spearman_undefined_for_constant_targets():
    assert math.isnan(spearman([1, 1, 1, 1], [1, 2, 3, 4]))


def test_set_metrics_known_values():
    canon = ["CCO", "CCO", None, "c1ccccc1", None]
    m = set_metrics(canon, reference={"CCO"})
    assert m["validity"] == pytest.approx(3 / 5)
    assert m["uniqueness"] == pytest.approx(2 / 3)
    assert m["novelty"] == pytest.approx(1 / 2)
    assert math.isnan(set_metrics(canon)["novelty"])


def test_canonicalize_and_properties_known_values():
    assert canonicalize("OCC") == "CCO"
    assert canonicalize("C1CC") is None
    assert canonicalize("") is None
    canon, props = analyse_smiles("c1ccccc1O", ["MolWt", "NumHDonors", "TPSA"])
    assert canon == "Oc1ccccc1"
    assert props["MolWt"] == pytest.approx(94.113, abs=1e-3)
    assert props["NumHDonors"] == 1.0
    assert props["TPSA"] == pytest.approx(20.23, abs=1e-2)


def test_properties_match_shipped_table(sample_rows):
    # The shipped sample was written with the same functions; re-measure a few rows.
    for row in sample_rows[:50]:
        _, props = analyse_smiles(row["SMILES"], ["LogP", "QED", "SAS"])
        for name in ("LogP", "QED", "SAS"):
            assert props[name] == pytest.approx(float(row[name]), rel=1e-5, abs=1e-5)


def test_property_control():
    recs = [{"valid": True, "targets": {"LogP": float(t)}, "properties": {"LogP": t + 0.5}} for t in range(5)]
    recs.append({"valid": False, "targets": {"LogP": 9.0}, "properties": {}})
    out = property_control(recs, ["LogP"])["LogP"]
    assert out["n"] == 5 and out["mae"] == pytest.approx(0.5) and out["spearman"] == pytest.approx(1.0)
