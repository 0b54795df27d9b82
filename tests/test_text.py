import csv
import json

import pytest

from seqcvae.cli import main
from seqcvae.config import DataConfig
from seqcvae.data.prepare import prepare_table as prepare_text
from seqcvae.errors import DataError
from seqcvae.tokenizers import BOS, EOS, PAD, UNK, load_tokenizer
from seqcvae.tokenizers.sentencepiece import SentencePieceTokenizer

SENTENCES = [
    "The movie was great fun.",
    "I hated  every minute of it!",
    "Meh, it was fine...",
    "Prices rose 3% in May; analysts were surprised.",
    "Yay. Another good phone interview.",
]


@pytest.fixture(scope="module")
def sp():
    return SentencePieceTokenizer.train(SENTENCES * 20, vocab_size=120)


def test_sentencepiece_special_ids_match_smiles_path(sp):
    assert (sp.sp.pad_id(), sp.sp.bos_id(), sp.sp.eos_id(), sp.sp.unk_id()) == (PAD, BOS, EOS, UNK)


def test_sentencepiece_exact_round_trip_including_unseen_characters(sp):
    for text in [*SENTENCES, "Ünïcödé ☃ never seen", "  spaced   out  "]:
        assert sp.decode(sp.encode(text)) == text
    assert sp.decode([BOS, *sp.encode("fun"), EOS, PAD, 7]) == "fun"


def test_sentencepiece_save_load_round_trip(sp):
    again = load_tokenizer(json.loads(json.dumps(sp.to_dict())))
    assert again.encode(SENTENCES[0]) == sp.encode(SENTENCES[0])
    assert again.vocab_size == sp.vocab_size


def test_sentencepiece_training_is_deterministic():
    a = SentencePieceTokenizer.train(SENTENCES * 20, vocab_size=120)
    b = SentencePieceTokenizer.train(SENTENCES * 20, vocab_size=120)
    assert a.model_proto == b.model_proto


def _tsv(tmp_path, text):
    p = tmp_path / "t.tsv"
    p.write_text(text, encoding="utf-8")
    return p


def test_text_rows_and_tags(tmp_path):
    p = _tsv(tmp_path, 'sentiment\ttext\npos\tA "quoted" word\nneg\t\n\tno tag\nneu\tok\n')
    data = prepare_text(
        p,
        DataConfig(
            kind="text", sequence_column="text", properties=[], tags=["sentiment"], max_skip_fraction=0.6
        ),
    )
    assert data.sequences == ['A "quoted" word', "ok"]
    assert data.tag_columns["sentiment"] == ["pos", "neu"]
    assert dict(data.skipped) == {"empty": 1, "missing_sentiment": 1}


def test_text_file_errors(tmp_path):
    cfg = DataConfig(kind="text", sequence_column="text", properties=[], tags=["sentiment"])
    bad = tmp_path / "b.tsv"
    bad.write_bytes(b"sentiment\ttext\npos\tcaf\xe9\n")
    with pytest.raises(DataError, match="not UTF-8"):
        prepare_text(bad, cfg)
    with pytest.raises(DataError, match="is empty"):
        prepare_text(_tsv(tmp_path, ""), cfg)
    with pytest.raises(DataError, match="'sentiment'"):
        prepare_text(_tsv(tmp_path, "label\ttext\npos\thi\n"), cfg)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("text") / "run"
    assert (
        main(
            [
                "train",
                "--config",
                "text_tiny",
                "--out",
                str(out),
                "--no-progress",
                "data.max_length=32",
                "data.too_long=drop",
            ]
        )
        == 0
    )
    return out


def test_tiny_text_run_end_to_end(text_run, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "t.csv"
    assert (
        main(
            [
                "generate",
                "--checkpoint",
                str(text_run),
                "-c",
                "sentiment=pos",
                "-c",
                "domain=tweet",
                "--n",
                "12",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "distinct-1" in capsys.readouterr().out
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12 and rows[0]["target_sentiment"] == "pos"
    assert (
        main(
            [
                "transfer",
                "--checkpoint",
                str(text_run),
                "--text",
                "I loved it.",
                "--text",
                "Terrible service.",
                "-c",
                "sentiment=neg",
            ]
        )
        == 0
    )
    assert "->" in capsys.readouterr().out


def test_over_long_sentences_dropped_and_counted(text_run):
    log = json.loads((text_run / "config.json").read_text())
    assert log["data"]["too_long"] == "drop"
    from seqcvae.training.checkpoint import load_checkpoint

    assert load_checkpoint(text_run).meta["data_summary"].count("over 32 tokens dropped") == 1


def test_unknown_tag_lists_known(text_run, capsys):
    assert main(["generate", "--checkpoint", str(text_run), "-c", "sentiment=happy"]) == 2
    err = capsys.readouterr().err
    assert "'happy'" in err and "neg, neu, pos" in err


def test_evaluate_text_run(text_run, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("sacrebleu")
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(text_run),
                "--k",
                "10",
                "--n",
                "40",
                "--max-sequences",
                "100",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    d = report["diagnostics"]
    assert d["iw_nll"] <= d["elbo"] + 1.0  # the IW bound is tighter than the ELBO (up to noise)
    assert 0 <= d["active_units"] <= d["latent_dim"]
    s = report["samples"]
    assert set(s["style_accuracy"]) == {"sentiment", "domain"}
    assert 0 <= s["transfer"]["accuracy"] <= 1


def test_decode_never_yields_nul(sp):
    """A model may emit the <0x00> byte piece; NUL cannot go in a CSV row (Python 3.10's csv refuses it)."""
    nul = sp.sp.piece_to_id("<0x00>")
    assert nul != UNK
    fun = sp.encode("fun")
    assert sp.decode([*fun, nul, *fun]) == sp.decode([*fun, *fun]) != ""
