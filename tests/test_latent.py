"""Latent-space tools on a tiny model overfit to 24 molecules (its z carries each of them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqcvae.chem.similarity import similarities, tanimoto
from seqcvae.generation.generator import Generator
from seqcvae.latent.goals import Goal
from seqcvae.latent.interpolate import interpolate
from seqcvae.latent.neighbours import neighbours
from seqcvae.latent.optimize import EditTask, optimize, result_records
from seqcvae.latent.paths import lerp, on_sphere, path, slerp
from seqcvae.latent.reconstruct import reconstruct
from seqcvae.latent.seeds import SeedError, check_seed, check_seeds

pytestmark = pytest.mark.chem


@pytest.fixture(scope="module")
def overfit(overfit_run: tuple[Path, list[str]]) -> tuple[Generator, list[str]]:
    run, mols = overfit_run
    return Generator.load(run), mols


def test_tanimoto_known_values():
    assert tanimoto("CCO", "OCC") == 1.0
    assert tanimoto("CCO", "not a molecule") is None
    assert 0.0 < tanimoto("c1ccccc1O", "c1ccccc1N") < 1.0  # type: ignore[operator]
    assert similarities("CCO", ["CCO", None, "xx", "CCN"])[:3] == [1.0, None, None]


def test_paths_known_values():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    t = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(lerp(a, b, t), torch.tensor([[1.0, 0.0], [0.5, 1.0], [0.0, 2.0]]))
    mid = slerp(a, b, t)[1]  # 45 degrees, norm between the two
    assert torch.allclose(mid / mid.norm(), torch.tensor([1.0, 1.0]) / 2**0.5, atol=1e-6)
    assert torch.allclose(mid.norm(), torch.tensor(1.5), atol=0.1)
    for method in ("linear", "spherical"):
        ts, z = path(a, b, 5, method)
        assert torch.allclose(z[0], a) and torch.allclose(z[-1], b) and len(ts) == 5
    pts = on_sphere(a, 3.0, 100, torch.Generator().manual_seed(0))
    assert torch.allclose((pts - a).norm(dim=1), torch.full((100,), 3.0), atol=1e-5)


def test_reconstruction_of_an_overfit_model_is_exact(overfit):
    gen, mols = overfit
    records, summary = reconstruct(gen, check_seeds(gen, mols))
    assert summary["reconstruction"] == 1.0 and summary["molecules"] == 24
    assert all(r.extra["match"] == 1 and r.extra["similarity"] == 1.0 for r in records)
    assert summary["kl_per_molecule"] > 1.0  # z carries information


def test_interpolation_ends_decode_to_the_inputs(overfit):
    gen, mols = overfit
    a, b = check_seeds(gen, mols[:2])
    for method in ("linear", "spherical"):
        records, summary = interpolate(gen, a, b, steps=7, method=method)
        assert summary["starts_at_a"] and summary["ends_at_b"], method
        assert [r.extra["step"] for r in records] == list(range(7))
        assert records[0].extra["similarity_a"] == 1.0 and records[-1].extra["similarity_b"] == 1.0


def test_neighbours_at_radius_zero_are_the_seed(overfit):
    gen, mols = overfit
    seed = check_seed(gen, mols[3])
    records, rows = neighbours(gen, seed, n=5, radii=[0.0, 3.0], reference=set(mols))
    assert [r["radius"] for r in rows] == [0.0, 3.0]
    assert rows[0]["same_as_seed"] == 1.0 and rows[0]["similarity_median"] == 1.0
    assert len(records) == 10 and {r.extra["radius"] for r in records} == {0.0, 3.0}
    assert rows[1]["similarity_median"] <= 1.0


def test_optimize_never_returns_a_molecule_below_the_floor(overfit):
    gen, mols = overfit
    seeds = check_seeds(gen, mols[:4])
    tasks = [EditTask(s, [Goal.near("LogP", s.properties["LogP"] + 1.0, 0.25)]) for s in seeds]
    for floor in (0.3, 0.6):
        results = optimize(gen, tasks, min_similarity=floor, budget=40, population=13, seed=1)
        assert all(r.proposals == 40 for r in results)
        for res in results:
            for c in res.candidates:
                assert c.similarity >= floor
                assert tanimoto(c.canonical, res.task.seed.canonical) == pytest.approx(c.similarity)
                assert c.canonical != res.task.seed.canonical
        rows = result_records(results, keep=3)
        assert all(r.extra["similarity"] >= floor and r.valid for r in rows)


@pytest.mark.parametrize(
    "smiles, needle",
    [
        ("C1CC", "is not a SMILES that RDKit can read"),
        ("C" * 120, "tokens long; this model reads at most"),
    ],
)
def test_bad_seeds_are_named(overfit, smiles, needle):
    gen, _ = overfit
    with pytest.raises(SeedError) as info:
        check_seed(gen, smiles)
    assert needle in str(info.value) and repr(smiles)[:20] in str(info.value)


def test_seed_with_tokens_outside_the_vocabulary(overfit):
    gen, _ = overfit
    vocab = set(gen.tokenizer.vocab.tokens)  # type: ignore[attr-defined]
    candidates = [("[Se]", "C[Se]C"), ("Br", "CBr"), ("I", "CI"), ("[Si]", "C[Si](C)(C)C")]
    token, outside = next((t, smi) for t, smi in candidates if t not in vocab)
    with pytest.raises(SeedError, match="outside the model's vocabulary") as info:
        check_seed(gen, outside)
    assert repr(outside) in str(info.value) and token in str(info.value)


def test_goals_from_values_ranges_and_shifts(overfit):
    from seqcvae.data.conditions import DEFAULT_TOLERANCE_FRACTION
    from seqcvae.errors import ConfigError
    from seqcvae.latent.goals import make_goals

    gen, _ = overfit
    (logp,) = gen.conditions.continuous
    default_tol = DEFAULT_TOLERANCE_FRACTION * (logp.maximum - logp.minimum)
    (g,) = make_goals(gen.conditions, {"LogP": 2.0}, {"LogP": "3"}, {}, {})
    assert (g.condition, g.low, g.high) == (
        3.0,
        pytest.approx(3 - default_tol),
        pytest.approx(3 + default_tol),
    )
    (g,) = make_goals(gen.conditions, {"LogP": 2.0}, {"LogP": "1:2.5"}, {}, {})
    assert (g.condition, g.low, g.high) == (1.75, 1.0, 2.5)
    assert g.error(2.0) == 0.0 and g.error(3.0) == pytest.approx(0.5) and g.error(0.5) == pytest.approx(0.5)
    (g,) = make_goals(gen.conditions, {"LogP": 2.0}, {}, {"LogP": -1.0}, {"LogP": 0.25})
    assert (g.condition, g.low, g.high) == (1.0, 0.75, 1.25)
    for targets, shifts, tol, needle in [
        ({"LogP": "3:1"}, {}, {}, "low end is above its high end"),
        ({"LogP": "3"}, {"LogP": 1.0}, {}, "both a target and a shift"),
        ({}, {"LogP": 1.0}, {"LogP": 0.0}, "tolerance LogP=0.0"),
        ({"LogP": "nan"}, {}, {}, "expected a number"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            make_goals(gen.conditions, {"LogP": 2.0}, targets, shifts, tol)
