import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqcvae.tokenizers import (
    BOS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    SmilesTokenizer,
    Vocabulary,
    split_smiles,
)


def test_round_trip_on_whole_shipped_sample(sample_rows):
    smiles = [r["SMILES"] for r in sample_rows]
    assert len(smiles) == 50_000
    tok = SmilesTokenizer.train(smiles)
    bad = [s for s in smiles if tok.decode(tok.encode(s)) != s]
    assert bad == []


@pytest.mark.parametrize(
    ("smiles", "tokens"),
    [
        ("CCl", ["C", "Cl"]),
        ("BrC(Br)Cl", ["Br", "C", "(", "Br", ")", "Cl"]),
        ("c1cc[nH]c1", ["c", "1", "c", "c", "[nH]", "c", "1"]),
        ("C%12CC%12", ["C", "%12", "C", "C", "%12"]),
        ("[C@@H](N)(O)C=O", ["[C@@H]", "(", "N", ")", "(", "O", ")", "C", "=", "O"]),
        ("C#N", ["C", "#", "N"]),
        ("[Na+].[Cl-]", ["[Na+]", ".", "[Cl-]"]),
        ("F/C=C/F", ["F", "/", "C", "=", "C", "/", "F"]),
    ],
)
def test_known_splits(smiles, tokens):
    assert split_smiles(smiles) == tokens


def test_unreadable_characters_are_named():
    with pytest.raises(ValueError, match="'X'"):
        split_smiles("CCX")


def test_vocabulary_specials_and_unknown_tokens():
    tok = SmilesTokenizer.train(["CCO", "c1ccccc1"])
    assert tok.vocab.tokens[:4] == list(SPECIAL_TOKENS)
    assert (PAD, BOS, EOS) == (0, 1, 2)
    ids = tok.encode("CCBr")  # Br unseen in training -> <unk>
    assert ids[-1] == 3
    assert tok.decode([BOS, *tok.encode("CCO"), EOS, PAD, tok.vocab.id("C")]) == "CCO"


def test_serialisation_round_trip():
    tok = SmilesTokenizer.train(["CCO", "c1ccccc1Cl", "C[C@@H](N)O"])
    again = SmilesTokenizer.from_dict(tok.to_dict())
    assert again.vocab.tokens == tok.vocab.tokens


def test_vocabulary_rejects_bad_layout():
    with pytest.raises(ValueError):
        Vocabulary(["a", "b"])


ATOMS = ["C", "c", "N", "n", "O", "o", "S", "s", "F", "Cl", "Br", "[nH]", "[C@@H]", "[N+]", "[O-]"]
OTHER = ["(", ")", "=", "#", "1", "2", "%10", "%23", "/", "\\", "."]


@given(st.lists(st.sampled_from(ATOMS + OTHER), min_size=1, max_size=60))
def test_round_trip_of_any_token_sequence(tokens):
    text = "".join(tokens)
    tok = SmilesTokenizer.train([text])
    assert tok.decode(tok.encode(text)) == text
    # The alphabet is unambiguous (no lone letter could complete a two-letter element, "%" only
    # comes as %nn), so splitting gives back exactly the tokens the text was made of: one id each.
    assert split_smiles(text) == tokens
    assert len(tok.encode(text)) == len(tokens)
