import numpy as np
import pytest

from seqcvae.data.conditions import CategoricalCondition, ConditionSpace, parse_condition
from seqcvae.errors import ConditionError


@pytest.fixture
def space():
    return ConditionSpace.fit({"LogP": np.array([0.0, 2.0, 4.0])}, {"sentiment": ["pos", "neg", "pos"]})


def test_standardisation_statistics(space):
    c = space.continuous[0]
    assert c.mean == pytest.approx(2.0) and c.std == pytest.approx(np.std([0, 2, 4]))
    enc = space.encode_columns({"LogP": np.array([2.0])}, {"sentiment": ["neg"]}, 1)
    assert enc.values[0, 0] == 0.0 and enc.present[0, 0] == 1.0
    assert space.categorical[0].values[enc.tags[0, 0]] == "neg"


def test_request_with_missing_conditions_is_unspecified(space):
    enc = space.encode_request({"sentiment": "pos"}, 4)
    assert enc.present.sum() == 0 and (enc.tags == space.categorical[0].index("pos")).all()


def test_unknown_name_lists_known(space):
    with pytest.raises(ConditionError, match="LogP, sentiment"):
        space.encode_request({"logp": 1.0}, 1)


def test_unknown_tag_lists_known(space):
    with pytest.raises(ConditionError, match="neg, pos"):
        space.encode_request({"sentiment": "meh"}, 1)


@pytest.mark.parametrize("bad", ["abc", float("nan"), float("inf")])
def test_non_numeric_targets(space, bad):
    with pytest.raises(ConditionError, match="LogP"):
        space.encode_request({"LogP": bad}, 1)


def test_out_of_range_warning(space):
    assert space.out_of_range({"LogP": 2.0}) == []
    assert "outside the training range" in space.out_of_range({"LogP": 9.0})[0]


def test_round_trip(space):
    assert ConditionSpace.from_dict(space.to_dict()).to_dict() == space.to_dict()


def test_numeric_values_match_numeric_tags():
    stars = CategoricalCondition("stars", ["<any>", "1", "2", "5", "0.5", "7.0"])
    matches = [(5, "5"), (5.0, "5"), ("5", "5"), (0.5, "0.5"), ("0.50", "0.5"), (7, "7.0"), ("2", "2")]
    for value, tag in matches:
        assert stars.values[stars.index(value)] == tag, value
    for bad in (3, 3.0, "5.5", True, "five"):
        with pytest.raises(ConditionError, match="unknown stars tag"):
            stars.index(bad)


def test_request_with_numeric_tag_is_encoded_and_canonical():
    space = ConditionSpace.fit({"LogP": np.array([0.0, 1.0])}, {"stars": ["1", "5", "5"]})
    enc = space.encode_request({"stars": 5.0, "LogP": 1}, 2)
    assert [space.categorical[0].values[t] for t in enc.tags[:, 0]] == ["5", "5"]
    assert space.canonical_request({"stars": 5.0, "LogP": 1}) == {"stars": "5", "LogP": 1.0}


@pytest.mark.parametrize(
    ("item", "expected"),
    [("LogP=2.5", ("LogP", 2.5)), (" stars = 5 ", ("stars", 5.0)), ("sentiment=pos", ("sentiment", "pos"))],
)
def test_parse_condition(item, expected):
    assert parse_condition(item) == expected


@pytest.mark.parametrize("item", ["LogP", "LogP=", "=2", " = "])
def test_parse_condition_refuses_malformed(item):
    with pytest.raises(ConditionError, match="NAME=VALUE"):
        parse_condition(item)
