import numpy as np
import pytest

from seqcvae.data.conditions import ConditionSpace
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
