import csv
import functools
import gzip
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold

from seqcvae.chem import moses
from seqcvae.chem.moses import (
    ALLOWED_ATOMS,
    SetStats,
    molecule_metrics,
    moses_canonical,
    moses_mol,
    passes_filters,
    scaffold,
    set_stats,
)
from seqcvae.chem.properties import sa_score
from seqcvae.stats import agg_tanimoto, cosine_similarity, wasserstein_1d

TEST_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "moses_sample" / "test.csv.gz"
INVALID = ["", "C1CC", "xyz", "c1cccc1", "C(C)(C)(C)(C)C"]  # empty, unclosed ring, junk, kekulize, valence


@functools.lru_cache(maxsize=1)
def _test_smiles() -> tuple[str, ...]:
    with gzip.open(TEST_SAMPLE, "rt", encoding="utf-8") as fh:
        return tuple(row["SMILES"] for row, _ in zip(csv.DictReader(fh), range(60)))


def sample_smiles(n: int, start: int = 0) -> list[str]:
    """Rows start..start+n of the MOSES test sample (all valid and passing the filters)."""
    return list(_test_smiles()[start : start + n])


def morgan_fp(smiles: str):
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    return gen.GetFingerprint(Chem.MolFromSmiles(smiles))


def tanimoto(a: str, b: str) -> float:
    return DataStructs.TanimotoSimilarity(morgan_fp(a), morgan_fp(b))


def other_spelling(smiles: str, root: int) -> str:
    """Same molecule, a different (non-canonical) SMILES: written from atom `root`."""
    mol = Chem.MolFromSmiles(smiles)
    other = Chem.MolToSmiles(mol, rootedAtAtom=root % mol.GetNumAtoms(), canonical=False)
    assert other != smiles and Chem.CanonSmiles(other) == Chem.CanonSmiles(smiles)
    return other


# --- wasserstein_1d -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wasserstein_matches_scipy(seed):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    u = rng.normal(size=17)
    v = rng.normal(loc=0.5, scale=2.0, size=31)
    v[:5] = u[:5]  # shared values (ties across the two samples)
    assert wasserstein_1d(u, v) == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-12, abs=1e-12)
    uw = rng.uniform(0.1, 3.0, size=len(u))
    vw = rng.uniform(0.1, 3.0, size=len(v))
    expected = stats.wasserstein_distance(u, v, uw, vw)
    assert wasserstein_1d(u, v, uw, vw) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_wasserstein_integer_weights_equal_repeats(seed):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    u = np.round(rng.normal(size=9), 1)  # rounded: ties inside a sample too
    v = np.round(rng.normal(size=13) + 1.0, 1)
    uw = rng.integers(1, 5, size=len(u))
    vw = rng.integers(1, 5, size=len(v))
    repeated = stats.wasserstein_distance(np.repeat(u, uw), np.repeat(v, vw))
    assert wasserstein_1d(u, v, uw, vw) == pytest.approx(repeated, rel=1e-12, abs=1e-12)
    assert wasserstein_1d(np.repeat(u, uw), np.repeat(v, vw)) == pytest.approx(repeated, rel=1e-12)
    # the weights matter: unweighted is a different number here
    assert wasserstein_1d(u, v) != pytest.approx(repeated, rel=1e-6)


def test_wasserstein_known_values_and_empty():
    assert wasserstein_1d(np.array([0.0]), np.array([1.0])) == pytest.approx(1.0)
    assert wasserstein_1d(np.array([0.0, 1.0]), np.array([1.0])) == pytest.approx(0.5)
    assert wasserstein_1d(np.array([1.0, 2.0, 3.0]), np.array([3.0, 1.0, 2.0])) == 0.0
    assert math.isnan(wasserstein_1d(np.array([]), np.array([1.0, 2.0])))
    assert math.isnan(wasserstein_1d(np.array([1.0]), np.array([])))
    assert math.isnan(wasserstein_1d(np.array([]), np.array([])))


# --- cosine_similarity --------------------------------------------------------------------------


def test_cosine_similarity_known_values():
    assert cosine_similarity(Counter({"a": 1, "b": 1}), Counter({"a": 1})) == pytest.approx(1 / math.sqrt(2))
    # (3, 4, 0) . (0, 4, 3) = 16, norms 5 and 5
    assert cosine_similarity(Counter(a=3, b=4), Counter(b=4, c=3)) == pytest.approx(16 / 25)
    assert cosine_similarity(Counter(a=2, b=5), Counter(a=2, b=5)) == pytest.approx(1.0)
    assert cosine_similarity(Counter(a=2, b=5), Counter(a=4, b=10)) == pytest.approx(1.0)  # scale-free
    assert cosine_similarity(Counter(a=1), Counter(b=7)) == 0.0
    assert math.isnan(cosine_similarity(Counter(), Counter(a=1)))
    assert math.isnan(cosine_similarity(Counter(a=1), Counter()))


# --- agg_tanimoto -------------------------------------------------------------------------------

REF = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=np.uint8)
GEN = np.array([[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]], dtype=np.uint8)
# Tanimoto(REF row, GEN column), by hand; 0/0 (two empty fingerprints) counts as 1
SIM = np.array(
    [
        [1.0, 0.0, 0.0, 2 / 3],
        [1 / 3, 0.0, 0.0, 2 / 3],
        [0.0, 0.0, 1.0, 0.0],
    ]
)


def test_agg_tanimoto_max_and_mean_by_hand():
    np.testing.assert_allclose(agg_tanimoto(REF, GEN, agg="max"), [1.0, 0.0, 1.0, 2 / 3], atol=1e-7)
    np.testing.assert_allclose(agg_tanimoto(REF, GEN, agg="mean"), [4 / 9, 0.0, 1 / 3, 4 / 9], atol=1e-7)
    np.testing.assert_allclose(agg_tanimoto(REF, GEN, agg="mean"), SIM.mean(0), atol=1e-7)
    expected_p2 = [math.sqrt(10 / 27), 0.0, math.sqrt(1 / 3), math.sqrt(8 / 27)]
    np.testing.assert_allclose(agg_tanimoto(REF, GEN, agg="mean", p=2), expected_p2, atol=1e-7)
    np.testing.assert_allclose(expected_p2, np.sqrt((SIM**2).mean(0)))
    # p only changes the mean, not the max
    np.testing.assert_allclose(agg_tanimoto(REF, GEN, agg="max", p=2), [1.0, 0.0, 1.0, 2 / 3], atol=1e-7)


def test_agg_tanimoto_empty_fingerprints():
    zero = np.zeros((1, 8), dtype=np.uint8)
    one = np.zeros((1, 8), dtype=np.uint8)
    one[0, 3] = 1
    assert agg_tanimoto(zero, zero)[0] == 1.0
    assert agg_tanimoto(zero, zero, agg="mean")[0] == 1.0
    assert agg_tanimoto(one, zero)[0] == 0.0
    assert agg_tanimoto(zero, one)[0] == 0.0


def test_agg_tanimoto_weights_equal_repeated_rows():
    w = np.array([2, 1, 3])
    repeated = np.repeat(REF, w, axis=0)
    for p in (1, 2):
        got = agg_tanimoto(REF, GEN, agg="mean", p=p, ref_weights=w)
        np.testing.assert_allclose(got, agg_tanimoto(repeated, GEN, agg="mean", p=p), atol=1e-7)
    # by hand for the first generated row: (2*1 + 1*(1/3) + 3*0) / 6
    assert agg_tanimoto(REF, GEN, agg="mean", ref_weights=w)[0] == pytest.approx(7 / 18, abs=1e-7)
    # max ignores the weights
    np.testing.assert_allclose(agg_tanimoto(REF, GEN, agg="max", ref_weights=w), [1.0, 0.0, 1.0, 2 / 3])


@pytest.mark.parametrize("agg,p", [("max", 1), ("mean", 1), ("mean", 2)])
def test_agg_tanimoto_batching(agg, p):
    rng = np.random.default_rng(3)
    gen = (rng.random((5, 64)) < 0.3).astype(np.uint8)
    ref = (rng.random((7, 64)) < 0.3).astype(np.uint8)
    gen[4] = 0  # one empty fingerprint
    ref[6] = 0
    w = rng.integers(1, 4, size=len(ref))
    big = agg_tanimoto(ref, gen, agg=agg, p=p, ref_weights=w)
    small = agg_tanimoto(ref, gen, agg=agg, p=p, ref_weights=w, batch=2)
    np.testing.assert_allclose(small, big, rtol=1e-12, atol=1e-12)
    # and both equal a plain double-precision computation
    both = ref.astype(float) @ gen.T.astype(float)
    union = ref.sum(1)[:, None] + gen.sum(1)[None, :] - both
    sim = np.divide(both, union, out=np.ones_like(both), where=union > 0)
    expected = sim.max(0) if agg == "max" else ((sim**p * w[:, None]).sum(0) / w.sum()) ** (1 / p)
    np.testing.assert_allclose(big, expected, atol=1e-6)


def test_agg_tanimoto_rejects_unknown_aggregation():
    with pytest.raises(ValueError, match="agg"):
        agg_tanimoto(REF, GEN, agg="min")


# --- parsing and filters ------------------------------------------------------------------------


def test_moses_mol_and_canonical():
    assert moses_mol("") is None
    for bad in INVALID:
        assert moses_mol(bad) is None, bad
        assert moses_canonical(bad) is None, bad
    assert moses_mol("CCO") is not None
    assert moses_canonical("OCC") == "CCO"
    assert moses_canonical("C1=CC=CC=C1") == "c1ccccc1"


@pytest.mark.parametrize(
    "smiles,passes",
    [
        ("CCOC(=O)c1csc(NC(=O)COc2ccccc2)n1", True),  # drug-like
        ("O=C(NCCc1cccc2ccccc12)C1CCC1", True),  # first molecule of the MOSES test sample
        ("CC1CCCCCC1", True),  # 7-membered ring is fine
        ("C[N+](C)(C)C", False),  # charged atom
        ("CC(=O)[O-]", False),  # charged atom
        ("C1CCCCCCC1", False),  # 8-membered ring
        ("ICc1ccccc1", False),  # iodine
        ("CP(C)(=O)c1ccccc1", False),  # phosphorus
        ("O=C1NC(=S)SC1=Cc1ccccc1", False),  # rhodanine, PAINS ene_rhod_A
        ("Oc1ccccc1O", False),  # catechol, PAINS catechol_A
        ("ClCc1ccccc1", False),  # alkyl halide, MCF4
        ("C1OC1c1ccccc1", False),  # epoxide, MCF5
        ("CCC=O", False),  # aldehyde, MCF7
        ("CC(=O)Cl", True),  # acyl chloride: no MCF/PAINS pattern matches it (MCF4 needs CH2-halogen)
    ],
)
def test_passes_filters_known_molecules(smiles, passes):
    mol = moses_mol(smiles)
    assert mol is not None
    assert passes_filters(mol) is passes


def _mcf_pains_patterns() -> list[Chem.Mol]:
    return [pattern for pattern, _ in moses.filters._filters()]


def _reference_passes_filters(mol: Chem.Mol, patterns: list[Chem.Mol]) -> bool:
    """molsets' mol_passes_filters, written out without the pattern-fingerprint screen."""
    ring_info = mol.GetRingInfo()
    if ring_info.NumRings() != 0 and any(len(x) >= 8 for x in ring_info.AtomRings()):
        return False
    h_mol = Chem.AddHs(mol)
    if any(atom.GetFormalCharge() != 0 for atom in mol.GetAtoms()):
        return False
    if any(atom.GetSymbol() not in ALLOWED_ATOMS for atom in mol.GetAtoms()):
        return False
    if any(h_mol.HasSubstructMatch(p) for p in patterns):
        return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smiles) and Chem.MolFromSmiles(smiles) is not None


def test_filter_screen_agrees_with_plain_substructure_search():
    # Molecules written from the filter SMARTS themselves: most hit at least one filter, so a screen
    # that wrongly skipped a pattern would show up as a pass here.
    patterns = _mcf_pains_patterns()
    assert len(patterns) == 502  # 22 MCF + 480 PAINS, as shipped by molsets 0.3.1
    candidates = [Chem.MolToSmiles(p) for p in patterns] + sample_smiles(40)
    mols = [m for m in map(moses_mol, candidates) if m is not None]
    assert len(mols) > 400
    ours = [passes_filters(m) for m in mols]
    reference = [_reference_passes_filters(m, patterns) for m in mols]
    assert ours == reference
    assert sum(not r for r in reference) > 400


def test_scaffold_needs_two_rings():
    assert scaffold(Chem.MolFromSmiles("CCc1ccccc1")) is None
    assert scaffold(Chem.MolFromSmiles("CCCC")) is None
    assert scaffold(Chem.MolFromSmiles("CCc1ccc(Cc2ccccn2)cc1")) == "c1ccc(Cc2ccccn2)cc1"
    assert scaffold(Chem.MolFromSmiles("CCc1ccccc1"), min_rings=1) == "c1ccccc1"


# --- molecule_metrics ---------------------------------------------------------------------------


def test_validity_and_unique_at_k_use_valid_molecules():
    generated = ["CCO", "", "OCC", "xyz", "c1ccccc1", "C1CC", "CCN", "c1cccc1", "C(C)(C)(C)(C)C", "CCO"]
    m = molecule_metrics(generated, ks=(3, 100))
    assert m["valid"] == pytest.approx(5 / 10)
    # first 3 valid: CCO, CCO (as OCC), c1ccccc1 -> 2/3 (the first 3 entries hold only 2 valid,
    # both CCO); test_unique_at_k_counts_first_k_valid_not_first_k_entries separates the two more sharply
    assert m["unique@3"] == pytest.approx(2 / 3)
    # fewer than k valid: divided by the number of valid molecules
    assert m["unique@100"] == pytest.approx(3 / 5)
    assert "unique@1000" not in m


def test_unique_at_k_counts_first_k_valid_not_first_k_entries():
    generated = ["C1CC", "CCO", "", "CCO", "xyz", "CCN", "CCC", "CCCl"]
    m = molecule_metrics(generated, ks=(1, 2, 3, 4))
    assert m["unique@1"] == 1.0
    assert m["unique@2"] == pytest.approx(1 / 2)  # CCO, CCO
    assert m["unique@3"] == pytest.approx(2 / 3)  # CCO, CCO, CCN
    assert m["unique@4"] == pytest.approx(3 / 4)  # + CCC


def test_novelty_against_canonical_train_set():
    generated = ["OCC", "CCO", "c1ccccc1", "C1=CC=CC=C1", "CCN", "", "C1CC"]
    train = ["CCO", "CCCl", "c1ccccc1"]  # canonical, as MOSES's files
    m = molecule_metrics(generated, train=train)
    # distinct valid canonical: CCO, c1ccccc1, CCN; only CCN is new
    assert m["Novelty"] == pytest.approx(1 / 3)
    assert molecule_metrics(generated, train=set(train))["Novelty"] == pytest.approx(1 / 3)
    assert molecule_metrics(generated, train=[])["Novelty"] == 1.0
    assert "Novelty" not in molecule_metrics(generated)


def test_internal_diversity_of_repeated_molecule_is_zero():
    smi = sample_smiles(1)[0]
    m = molecule_metrics([smi] * 5 + [other_spelling(smi, 1)])
    assert m["IntDiv"] == pytest.approx(0.0, abs=1e-9)
    assert m["IntDiv2"] == pytest.approx(0.0, abs=1e-9)


def test_internal_diversity_of_two_molecules():
    a, b = sample_smiles(2)
    t = tanimoto(a, b)
    assert 0.0 < t < 1.0
    m = molecule_metrics([a, b])
    assert m["IntDiv"] == pytest.approx(1 - (2 + 2 * t) / 4, abs=1e-6)
    assert m["IntDiv2"] == pytest.approx(1 - math.sqrt((1 + t * t) / 2), abs=1e-6)


def test_metrics_of_a_set_against_itself():
    smiles = sample_smiles(20)
    m = molecule_metrics(smiles, references={"Test": smiles}, fcd=False)
    expected_keys = {"SNN/Test", "Frag/Test", "Scaf/Test", "FCD/Test", "logP", "SA", "QED", "weight"}
    assert expected_keys <= set(m)
    assert m["SNN/Test"] == pytest.approx(1.0, abs=1e-9)
    assert m["Frag/Test"] == pytest.approx(1.0, abs=1e-9)
    assert m["Scaf/Test"] == pytest.approx(1.0, abs=1e-9)
    for name in ("logP", "SA", "QED", "weight"):
        assert m[name] == pytest.approx(0.0, abs=1e-9), name
    assert math.isnan(m["FCD/Test"])  # fcd=False
    assert m["valid"] == 1.0
    assert m["Filters"] == 1.0  # the MOSES sample is filtered
    # 1 - power-2 mean <= 1 - mean: IntDiv2 is the smaller one
    assert 0.0 < m["IntDiv2"] < m["IntDiv"] < 1.0


def test_key_order_is_moses_order():
    smiles = sample_smiles(6)
    m = molecule_metrics(
        smiles, references={"Test": smiles, "TestSF": sample_smiles(6, 6)}, train=[], ks=(3,), fcd=False
    )
    assert list(m) == [
        "valid",
        "unique@3",
        *("FCD/Test", "SNN/Test", "Frag/Test", "Scaf/Test"),
        *("FCD/TestSF", "SNN/TestSF", "Frag/TestSF", "Scaf/TestSF"),
        *("IntDiv", "IntDiv2", "Filters", "logP", "SA", "QED", "weight", "Novelty"),
    ]
    # the property distances are against the first reference only
    assert m["weight"] == 0.0
    assert m["SNN/TestSF"] < 1.0


def test_fcd_is_nan_without_fcd_torch(monkeypatch):
    monkeypatch.setattr(moses.fcd, "fcd_available", lambda: False)

    def no_model(*args, **kwargs):
        raise AssertionError("FCD model built although fcd_torch is unavailable")

    monkeypatch.setattr(moses.fcd, "_fcd_model", no_model)
    smiles = sample_smiles(5)
    m = molecule_metrics(smiles, references={"Test": smiles}, fcd=True)
    assert math.isnan(m["FCD/Test"])
    assert m["SNN/Test"] == pytest.approx(1.0)


def test_fcd_wiring_with_a_fake_model(monkeypatch):
    # fcd_torch's real metric takes ~10 s on CPU here (a 512x512 sqrtm); a stand-in checks what the
    # module hands it: every valid canonical generated SMILES, duplicates included (as MOSES).
    calls: list[list[str]] = []

    class FakeFCD:
        def get_predictions(self, smiles):
            calls.append(list(smiles))
            return np.full((len(smiles), 1), float(len(smiles)))

        def metric(self, ref, gen):
            return 1000.0 * float(ref["mu"][0]) + float(gen["mu"][0])

    monkeypatch.setattr(moses.fcd, "fcd_available", lambda: True)
    monkeypatch.setattr(moses.fcd, "_fcd_model", lambda *args, **kwargs: FakeFCD())
    a, b, c = sample_smiles(3)
    generated = [a, other_spelling(a, 2), "", b, "C1CC", a]
    reference = [b, c, c, "xyz"]
    m = molecule_metrics(generated, references={"Test": reference})
    canon = [Chem.CanonSmiles(s) for s in (a, a, b, a)]
    assert sorted(calls[0]) == sorted(canon)
    assert sorted(calls[1]) == sorted([b, c, c])
    assert m["FCD/Test"] == 3000.0 + 4.0
    calls.clear()
    assert math.isnan(molecule_metrics(generated, references={"Test": reference}, fcd=False)["FCD/Test"])
    assert calls == []


def test_fcd_statistics_go_to_chemnet_in_chunks(monkeypatch):
    # fcd_torch's memory grows with the list it is given (the full MOSES test split needed over
    # 24 GB in one call): the activations are taken FCD_CHUNK molecules at a time, and mu and sigma
    # are those of all of them at once
    calls: list[int] = []
    rng = np.random.default_rng(0)
    table = {f"C{'C' * i}O": rng.normal(size=3) for i in range(23)}

    class FakeFCD:
        def get_predictions(self, smiles):
            calls.append(len(smiles))
            return np.stack([table[s] for s in smiles])

    monkeypatch.setattr(moses.fcd, "fcd_available", lambda: True)
    monkeypatch.setattr(moses.fcd, "_fcd_model", lambda *args, **kwargs: FakeFCD())
    monkeypatch.setattr(moses.fcd, "FCD_CHUNK", 5)
    stats = moses.fcd.fcd_statistics(list(table), workers=1, device="cpu")
    assert calls == [5, 5, 5, 5, 3]
    acts = np.stack(list(table.values()))
    np.testing.assert_allclose(stats["mu"], acts.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats["sigma"], np.cov(acts.T), rtol=1e-12)


def test_only_invalid_generated():
    m = molecule_metrics(list(INVALID), references={"Test": sample_smiles(3)}, train=["CCO"], ks=(2,))
    assert m["valid"] == 0.0
    assert math.isnan(m["unique@2"])


def test_empty_generated_raises():
    with pytest.raises(ValueError):
        molecule_metrics([])


def test_invalid_reference_molecules_are_left_out():
    smiles = sample_smiles(8)
    clean = molecule_metrics(smiles, references={"Test": smiles}, fcd=False)
    messy = molecule_metrics(smiles, references={"Test": smiles + INVALID}, fcd=False)
    for k in ("SNN/Test", "Frag/Test", "Scaf/Test", "logP", "SA", "QED", "weight"):
        assert messy[k] == pytest.approx(clean[k], abs=1e-12), k


def test_duplicates_weighted_like_moses():
    stats = pytest.importorskip("scipy.stats")
    distance = pytest.importorskip("scipy.spatial.distance")
    a, b, c = sample_smiles(3, start=40)
    catechol = "Oc1ccccc1O"  # fails the PAINS filter
    generated = [a, other_spelling(a, 3), a, b, c, other_spelling(c, 4), catechol, "", "C1CC"]
    reference = sample_smiles(30)
    m = molecule_metrics(generated, references={"Test": reference}, fcd=False)

    # MOSES: every valid molecule, repeats included, in canonical form
    canonical = [moses_canonical(s) for s in generated]
    valid = [s for s in canonical if s is not None]
    assert len(valid) == 7
    assert m["valid"] == pytest.approx(7 / 9)
    mols = [Chem.MolFromSmiles(s) for s in valid]
    ref_mols = [Chem.MolFromSmiles(s) for s in reference]

    snn = np.mean([max(tanimoto(g, r) for r in reference) for g in valid])
    assert 0.0 < snn < 1.0
    assert m["SNN/Test"] == pytest.approx(snn, abs=1e-6)

    sims = np.array([[tanimoto(x, y) for y in valid] for x in valid])
    assert m["IntDiv"] == pytest.approx(1 - sims.mean(), abs=1e-6)
    assert m["IntDiv2"] == pytest.approx(1 - np.sqrt((sims**2).mean(1)).mean(), abs=1e-6)

    def fragments(ms):
        return Counter(f for mol in ms for f in Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split("."))

    def scaffolds(ms):
        out: Counter[str] = Counter()
        for mol in ms:
            scaf = MurckoScaffold.GetScaffoldForMol(mol)
            if scaf.GetRingInfo().NumRings() >= 2:
                out[Chem.MolToSmiles(scaf)] += 1
        return out

    def cos(ref_counts, gen_counts):
        keys = sorted(set(ref_counts) | set(gen_counts))
        return 1 - distance.cosine([ref_counts[k] for k in keys], [gen_counts[k] for k in keys])

    assert m["Frag/Test"] == pytest.approx(cos(fragments(ref_mols), fragments(mols)), abs=1e-9)
    gen_scaf = scaffolds(mols)
    assert gen_scaf  # the check below must not be nan == nan
    assert m["Scaf/Test"] == pytest.approx(cos(scaffolds(ref_mols), gen_scaf), abs=1e-9)

    props = {"logP": Crippen.MolLogP, "SA": sa_score, "QED": QED.qed, "weight": Descriptors.MolWt}
    for name, fn in props.items():
        expected = stats.wasserstein_distance([fn(x) for x in ref_mols], [fn(x) for x in mols])
        assert m[name] == pytest.approx(expected, rel=1e-9, abs=1e-12), name

    assert m["Filters"] == pytest.approx(6 / 7)  # catechol fails, the MOSES sample passes


def test_duplicates_change_the_metrics():
    # the weighting is real: repeating one molecule moves SNN and IntDiv
    a, b = sample_smiles(2, start=40)
    reference = sample_smiles(10)
    once = molecule_metrics([a, b], references={"Test": reference}, fcd=False)
    thrice = molecule_metrics([a, a, a, b], references={"Test": reference}, fcd=False)
    snn_a = max(tanimoto(a, r) for r in reference)
    snn_b = max(tanimoto(b, r) for r in reference)
    assert snn_a != pytest.approx(snn_b, abs=1e-3)
    assert once["SNN/Test"] == pytest.approx((snn_a + snn_b) / 2, abs=1e-6)
    assert thrice["SNN/Test"] == pytest.approx((3 * snn_a + snn_b) / 4, abs=1e-6)
    assert thrice["IntDiv"] < once["IntDiv"]


# --- SetStats persistence -----------------------------------------------------------------------


def test_set_stats_counts():
    a, b = sample_smiles(2)
    s = set_stats([a, a, b, "", "C1CC", a], fcd=False)
    assert s.size == 4
    assert s.n_invalid == 2
    assert sorted(s.weights.tolist()) == [1, 3]
    assert s.fps.shape == (2, 1024) and s.fps.dtype == np.uint8
    assert set(np.unique(s.fps)) <= {0, 1}
    i = s.weights.tolist().index(3)
    expected = np.zeros(1024, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(morgan_fp(a), expected)
    np.testing.assert_array_equal(s.fps[i], expected)


def test_set_stats_save_load_round_trip(tmp_path):
    smiles = sample_smiles(12) + sample_smiles(3) + ["", "C1CC", "Oc1ccccc1O"]
    stats = set_stats(smiles, fcd=False)
    rng = np.random.default_rng(0)
    stats.fcd = {"mu": rng.normal(size=5), "sigma": np.eye(5) + 0.1}
    stats.meta = {"source": "test.csv.gz", "n": 18}
    path = tmp_path / "cache" / "ref.npz"
    stats.save(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ref.npz"]  # no temporary left behind

    with np.load(path, allow_pickle=False) as z:  # nothing in it needs pickle
        for key in z.files:
            z[key]

    loaded = SetStats.load(path)
    np.testing.assert_array_equal(loaded.fps, stats.fps)
    assert loaded.fps.shape == stats.fps.shape
    np.testing.assert_array_equal(loaded.weights, stats.weights)
    np.testing.assert_array_equal(loaded.passes, stats.passes)
    assert loaded.passes.dtype == bool and not loaded.passes.all()  # catechol
    assert loaded.fragments == stats.fragments and len(loaded.fragments) > 10
    assert loaded.scaffolds == stats.scaffolds and len(loaded.scaffolds) > 0
    assert set(loaded.properties) == {"logP", "SA", "QED", "weight"}
    for k, v in stats.properties.items():
        np.testing.assert_array_equal(loaded.properties[k], v)
    assert loaded.n_invalid == stats.n_invalid == 2
    assert loaded.size == stats.size == 16
    assert loaded.meta == stats.meta
    assert loaded.fcd is not None
    for k in ("mu", "sigma"):
        np.testing.assert_array_equal(loaded.fcd[k], stats.fcd[k])

    # the loaded statistics serve as a reference exactly like the SMILES they came from
    gen = sample_smiles(10, start=30)
    from_smiles = molecule_metrics(gen, references={"Test": smiles}, fcd=False)
    from_cache = molecule_metrics(gen, references={"Test": loaded}, fcd=False)
    assert from_cache == from_smiles


def test_set_stats_round_trip_without_fcd_and_fragments(tmp_path):
    stats = set_stats(["", "xyz"], fcd=False)
    assert stats.size == 0 and stats.n_invalid == 2
    path = tmp_path / "empty.npz"
    stats.save(path)
    loaded = SetStats.load(path)
    assert loaded.fcd is None
    assert loaded.fps.shape == (0, 1024)
    assert loaded.fragments == Counter() and loaded.scaffolds == Counter()
    assert loaded.n_invalid == 2
    assert loaded.meta == {}
