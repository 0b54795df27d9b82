import csv
import json

import pytest
import torch

from seqcvae.cli import main
from seqcvae.config import DataConfig, RunConfig
from seqcvae.data.prepare import prepare_table as prepare_text
from seqcvae.errors import DataError, SeqCVAEError
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


def test_sentencepiece_joins_mark_the_pieces_that_continue_a_word(sp):
    for text in [*SENTENCES, "Ünïcödé ☃ never seen"]:
        ids = sp.encode(text)
        joins = sp.joins(ids)
        pieces = sp.pieces(text)
        assert not joins[0]
        for k in range(1, len(ids)):
            byte = sp.sp.is_byte(ids[k])
            assert joins[k] == (not byte and not pieces[k].startswith("\u2581")), (text, pieces[k])
        # the words rebuilt from the joins are the text's own (byte pieces aside)
        if not any(sp.sp.is_byte(i) for i in ids):
            words = []
            for piece, joined in zip(pieces, joins):
                words[-1:] = [words[-1] + piece] if joined else [*words[-1:], piece]
            assert [w.replace("\u2581", "") for w in words if w != "\u2581"] == text.split()


@pytest.mark.parametrize("model_type", ["unigram", "word"])
def test_a_corpus_own_unk_and_eos_markers_are_ordinary_words(model_type):
    """PTB writes out-of-vocabulary words as the text <unk>. With SentencePiece's own special
    names that string was reserved and each one cost 6 byte pieces; now it is a word like any
    other (one piece under the word model), and it round-trips exactly."""
    corpus = [f"the <unk> said {w} <unk> rose <eos>" for w in ("sales", "prices", "shares", "it")] * 30
    tok = SentencePieceTokenizer.train(corpus, vocab_size=300, model_type=model_type)
    pieces = tok.pieces("the <unk> rose <eos>")
    assert not any(tok.sp.is_byte(i) for i in tok.encode("the <unk> rose <eos>")), pieces
    if model_type == "word":
        assert pieces == ["\u2581the", "\u2581<unk>", "\u2581rose", "\u2581<eos>"]
    assert tok.decode(tok.encode(corpus[0])) == corpus[0]
    assert tok.sp.unk_id() == UNK and tok.decode([UNK]) != "<unk>"  # the unknown id is not the word


def test_a_word_model_keeps_every_word_whole_and_rarer_words_as_bytes():
    tok = SentencePieceTokenizer.train(SENTENCES * 20, vocab_size=300, model_type="word")
    for text in SENTENCES:
        assert len(tok.encode(text)) == len(text.split()) or "  " in text
        assert tok.decode(tok.encode(text)) == text
    unseen = tok.encode("zebra")
    assert all(tok.sp.is_byte(i) for i in unseen) and tok.decode(unseen) == "zebra"
    # unknown words spelled in bytes carry the word mark in their bytes; it decodes to a space
    for text in ["the zebra", "zebra crossing", "  spaced   zebra  ", "Ünïcödé ☃ never seen", "a  b "]:
        assert tok.decode(tok.encode(text)) == text


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


INPUTS = ["I loved it.", "Terrible service."]


def _transfer(run, tmp_path, name: str, *extra: str) -> list[dict[str, str]]:
    out = tmp_path / f"{name}.csv"
    args = ["transfer", "--checkpoint", str(run), "--text", INPUTS[0], "--text", INPUTS[1]]
    assert main([*args, *extra, "--out", str(out)]) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_transfer_decodes_under_the_target_tag(text_run, tmp_path, capsys):
    neg = _transfer(text_run, tmp_path, "neg", "-c", "sentiment=neg")
    pos = _transfer(text_run, tmp_path, "pos", "-c", "sentiment=pos")
    assert [r["index"] for r in neg] == ["0", "1"]  # one output per input, in input order
    assert {r["target_sentiment"] for r in neg} == {"neg"} and {r["target_sentiment"] for r in pos} == {"pos"}
    assert [r["sequence"] for r in neg] != INPUTS  # re-decoded, not echoed
    assert [r["sequence"] for r in neg] != [r["sequence"] for r in pos]  # the target tag reaches the decoder
    # Greedy by default: the same outputs again, printed under their inputs.
    assert main(["transfer", "--checkpoint", str(text_run), "--text", INPUTS[0], "-c", "sentiment=neg"]) == 0
    assert f"{INPUTS[0]}\n  -> [sentiment=neg] {neg[0]['sequence']}  (classifier: " in capsys.readouterr().out
    # --sample draws instead: reproducible for a seed, different from greedy and across seeds.
    s3 = _transfer(text_run, tmp_path, "s3", "-c", "sentiment=neg", "--sample", "--seed", "3")
    again = _transfer(text_run, tmp_path, "s3b", "-c", "sentiment=neg", "--sample", "--seed", "3")
    s4 = _transfer(text_run, tmp_path, "s4", "-c", "sentiment=neg", "--sample", "--seed", "4")
    assert s3 == again
    assert [r["sequence"] for r in s3] != [r["sequence"] for r in neg]
    assert [r["sequence"] for r in s3] != [r["sequence"] for r in s4]


def test_over_long_sentences_dropped_and_counted(text_run):
    """data.max_length=32, too_long=drop: the summary counts the training sentences over 32
    tokens, and no sentence of either split is longer."""
    from seqcvae.data.splits import prepare_run_data, resolve_data_path
    from seqcvae.models.checkpoint import load_checkpoint

    gen_cfg = load_checkpoint(text_run)
    summary = gen_cfg.meta["data_summary"]
    tok = load_tokenizer(gen_cfg.tokenizer)
    cfg = RunConfig.from_dict(gen_cfg.config)
    train_rows = prepare_text(resolve_data_path(cfg.data.train_path), cfg.data).sequences
    n_long = sum(len(tok.encode(s)) > 32 for s in train_rows)
    assert 0 < n_long < len(train_rows)
    assert f"; {n_long} training sequences over 32 tokens dropped" in summary
    prep = prepare_run_data(cfg, gen_cfg.tokenizer, gen_cfg.conditions)
    assert len(prep.train) == len(train_rows) - n_long
    for ds in (prep.train, prep.val):
        assert max(len(ds.ids(i)) for i in range(len(ds))) <= 32


def test_text_hits_and_filters(text_run, tmp_path, capsys):
    """A text run has no RDKit measurements: tolerances, --valid-only and --novel are one-line
    errors; --unique keeps the first of each distinct text, with or without --hits."""
    argv = ["generate", "--checkpoint", str(text_run), "-c", "sentiment=pos"]
    for extra, needle in [
        (["--hits", "3", "--tolerance", "sentiment=1"], "--tolerance"),
        (["--valid-only"], "--valid-only"),
        (["--novel"], "--novel"),
    ]:
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err and "no RDKit" in err, err
    out = tmp_path / "u.csv"
    assert main([*argv, "--n", "40", "--unique", "--out", str(out)]) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        texts = [r["sequence"] for r in csv.DictReader(fh)]
    assert 0 < len(texts) <= 40 and len(texts) == len(set(texts))
    assert main([*argv, "--hits", "5", "--unique", "--out", str(out)]) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        hits = [r["sequence"] for r in csv.DictReader(fh)]
    assert len(hits) == 5 == len(set(hits)) and hits == texts[:5]


def test_unknown_tag_lists_known(text_run, capsys):
    assert main(["generate", "--checkpoint", str(text_run), "-c", "sentiment=happy"]) == 2
    err = capsys.readouterr().err
    assert "'happy'" in err and "neg, neu, pos" in err


def test_evaluate_text_run(text_run, capsys, monkeypatch):
    pytest.importorskip("sklearn")
    pytest.importorskip("sacrebleu")
    from seqcvae.text.metrics import StyleClassifier

    fitted: list[StyleClassifier] = []  # the report's own classifier (trained on the training file)
    fit = StyleClassifier.fit

    def recording_fit(self, texts, tags):
        fitted.append(self)
        return fit(self, texts, tags)

    monkeypatch.setattr(StyleClassifier, "fit", recording_fit)
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
    assert d["iw_nll"] <= d["nelbo"] + 1e-3  # the IW bound is tighter than the ELBO
    gen, part = _held_out_sentences(text_run)
    assert d["sequences"] == len(part) == 88  # the validation sentences of at most 32 tokens
    # Active units recounted from the posterior means of the held-out sentences (sample variance).
    mu = gen.encode(part.sequences, _tags_of(part, range(len(part))))
    assert d["active_units"] == int((mu.var(dim=0, correction=1) >= 0.01).sum())
    s = report["samples"]
    assert set(s["style_accuracy"]) == {"sentiment", "domain"}
    # Transfer: the first 40 held-out sentences, each to the next sentiment in sorted order
    # (neg -> neu -> pos -> neg), judged by the style classifier.
    t = s["transfer"]
    assert (t["field"], t["sentences"]) == ("sentiment", 40)
    values = ["neg", "neu", "pos"]
    targets = [values[(values.index(v) + 1) % 3] for v in part.tag_columns["sentiment"][:40]]
    outputs = []
    for i in range(40):
        source = _tags_of(part, [i], "sentiment")
        outputs.append(gen.transfer([part.sequences[i]], {"sentiment": targets[i]}, source)[0].sequence)
    (clf,) = fitted
    assert t["accuracy"] == pytest.approx(clf.accuracy(outputs, {"sentiment": targets})["sentiment"])
    assert t["unchanged_fraction"] == pytest.approx(sum(a == b for a, b in zip(outputs, part.sequences)) / 40)


def _held_out_sentences(run):
    from seqcvae.data.splits import prepare_run_data
    from seqcvae.generation.generator import Generator

    gen = Generator.load(run)
    return gen, prepare_run_data(gen.config, gen.tokenizer.to_dict(), gen.conditions.to_dict()).val_data


def _tags_of(part, rows, *names):
    names = names or tuple(part.tag_columns)
    return [{t: part.tag_columns[t][i] for t in names} for i in rows]


def test_decode_never_yields_nul(sp):
    """A model may emit the <0x00> byte piece; NUL cannot go in a CSV row (Python 3.10's csv refuses it)."""
    nul = sp.sp.piece_to_id("<0x00>")
    assert nul != UNK
    fun = sp.encode("fun")
    assert sp.decode([*fun, nul, *fun]) == sp.decode([*fun, *fun]) != ""


def test_transfer_to_several_tags_with_the_classifiers_verdict(text_run, tmp_path, capsys):
    """-c sentiment=neg,pos: every input to each target, target by target; each row carries the
    input, its output, the target tag and the style classifier's verdict, and the summary the
    share of outputs the classifier assigns the target."""
    rows = _transfer(text_run, tmp_path, "both", "-c", "sentiment=neg,pos")
    assert [r["index"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["source"] for r in rows] == INPUTS * 2
    assert [r["target_sentiment"] for r in rows] == ["neg", "neg", "pos", "pos"]
    assert {r["style_sentiment"] for r in rows} <= {"neg", "neu", "pos"} and rows[0]["style_sentiment"]
    single = _transfer(text_run, tmp_path, "neg", "-c", "sentiment=neg")
    assert [r["sequence"] for r in rows[:2]] == [r["sequence"] for r in single]
    assert "style accuracy sentiment=neg: " in capsys.readouterr().out


def test_transfer_reads_each_inputs_own_tag_from_the_file(text_run, tmp_path, capsys):
    """An --input table with a column named like the tag field: each row is encoded under its own
    tag (source_sentiment in the output), an empty cell leaves it unknown; the same outputs as
    giving that tag with --source."""
    table = tmp_path / "in.tsv"
    table.write_text("text\tsentiment\nI loved it.\tpos\nTerrible service.\t\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    argv = ["transfer", "--checkpoint", str(text_run), "--input", str(table), "-c", "sentiment=neg"]
    assert main([*argv, "--out", str(out)]) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["source_sentiment"] for r in rows] == ["pos", ""]
    given = _transfer(text_run, tmp_path, "given", "--source", "sentiment=pos", "-c", "sentiment=neg")
    assert rows[0]["sequence"] == given[0]["sequence"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tsentiment\nI loved it.\tecstatic\n", encoding="utf-8")
    argv = ["transfer", "--checkpoint", str(text_run), "--input", str(bad), "-c", "sentiment=neg"]
    assert main(argv) == 2
    assert "ecstatic" in capsys.readouterr().err


def test_transfer_beam_and_guidance_reach_the_decoder(text_run, tmp_path, capsys):
    """--beam N and --guidance W decode as Generator.transfer does with the same settings."""
    from seqcvae.generation.generator import Generator

    gen = Generator.load(text_run)
    for extra, settings in (
        (["--beam", "3"], {"strategy": "beam", "beam_size": 3}),
        (["--guidance", "3"], {"strategy": "greedy", "guidance": 3.0}),
        (["--beam", "3", "--guidance", "2.5"], {"strategy": "beam", "beam_size": 3, "guidance": 2.5}),
    ):
        rows = _transfer(text_run, tmp_path, "x", "-c", "sentiment=neg", *extra)
        want = gen.transfer(INPUTS[:2], {"sentiment": "neg"}, **settings)
        assert [r["sequence"] for r in rows] == [r.sequence for r in want], extra
    capsys.readouterr()
    bad = ["transfer", "--checkpoint", str(text_run), "--text", "x", "-c", "sentiment=neg", "--beam", "0"]
    assert main(bad) == 2
    assert "--beam 0: expected a number of hypotheses >= 1" in capsys.readouterr().err


def test_keep_makes_the_transfer_reuse_the_inputs_tokens(text_run, tmp_path, capsys):
    """A bonus on the input's own tokens: with a large one, greedy transfer writes only tokens the
    input holds; the share of output tokens found in the input rises with the bonus."""
    gen, part = _held_out_sentences(text_run)
    sentences = part.sequences[:30]

    def reused(keep: float, **decoding) -> float:
        recs = gen.transfer(sentences, {"sentiment": "neg"}, keep=keep, **decoding)
        shares = []
        for src, rec in zip(sentences, recs):
            own, out = set(gen.tokenizer.encode(src)), gen.tokenizer.encode(rec.sequence)
            shares.append(sum(t in own for t in out) / max(1, len(out)))
        return sum(shares) / len(shares)

    assert reused(0.0) < 0.9 and reused(3.0) > reused(0.0) and reused(100.0) == 1.0
    assert reused(100.0, strategy="beam", beam_size=3) == 1.0 > reused(0.0, strategy="beam", beam_size=3)
    argv = ["transfer", "--checkpoint", str(text_run), "--text", INPUTS[0], "-c", "sentiment=neg"]
    assert main([*argv, "--keep", "-1"]) == 2
    assert "--keep '-1'" in capsys.readouterr().err


def test_a_large_ordered_keep_returns_the_input_as_it_is(text_run, capsys):
    """keep_mode "order" (the default) copies the input in its order: with a bonus that outweighs
    the model every output is its input; the bag's outputs hold the same words, not all in order."""
    gen, part = _held_out_sentences(text_run)
    sentences = part.sequences[:30]
    enc = [gen.tokenizer.encode(s) for s in sentences]
    order = gen.transfer(sentences, {"sentiment": "neg"}, keep=100.0)
    assert [gen.tokenizer.encode(r.sequence) for r in order] == enc
    bag = [
        gen.tokenizer.encode(r.sequence)
        for r in gen.transfer(sentences, {"sentiment": "neg"}, keep=100.0, keep_mode="bag")
    ]
    assert bag != enc and all(set(b) <= set(e) for b, e in zip(bag, enc))
    argv = ["transfer", "--checkpoint", str(text_run), "--text", INPUTS[0], "-c", "sentiment=neg"]
    assert main([*argv, "--keep", "2", "--keep-mode", "pairs"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--keep-mode" in err and "pairs" in err
    with pytest.raises(SeqCVAEError, match="pairs"):
        gen.transfer(sentences[:1], {"sentiment": "neg"}, keep=1.0, keep_mode="pairs")


def test_style_marks_split_the_models_own_likelihood_ratio_over_the_tokens(text_run):
    """style_marks are per-token log p(x_t | source) - log p(x_t | target); with the end-of-sentence
    term they add up to the sequence's log-likelihood ratio."""
    from seqcvae.generation.transfer_search import sequence_logp, style_marks, token_logp

    gen, part = _held_out_sentences(text_run)
    texts = part.sequences[:6]
    ids = [gen.tokenizer.encode(t) for t in texts]
    z = gen.encode(texts)
    c_pos = gen.condition_vectors([{"sentiment": "pos"}] * 6)
    c_neg = gen.condition_vectors([{"sentiment": "neg"}] * 6)
    marks = style_marks(gen.model, ids, z, c_pos, c_neg)
    ends = token_logp(gen.model, ids, z, c_pos) - token_logp(gen.model, ids, z, c_neg)
    total = sequence_logp(gen.model, ids, z, c_pos) - sequence_logp(gen.model, ids, z, c_neg)
    for row, seq in enumerate(ids):
        assert len(marks[row]) == len(seq)
        assert sum(marks[row]) + float(ends[row, len(seq)]) == pytest.approx(float(total[row]), abs=1e-3)


def test_style_scale_frees_a_word_whole_when_any_of_its_pieces_marks_the_style(monkeypatch):
    import seqcvae.generation.transfer_search as search

    marks = [[0.1, 3.0, 0.0, 0.0, 2.5], [2.1, 0.0]]
    monkeypatch.setattr(search, "style_marks", lambda *args: marks)
    joins = [[False, True, False, True, True], [False, False]]
    assert search.style_scale(None, [], None, None, None) == [[1, 0, 1, 1, 0], [0, 1]]
    assert search.style_scale(None, [], None, None, None, joins) == [[0, 0, 0, 0, 0], [0, 1]]
    no_joins = [[False] * 5, [False] * 2]
    assert search.style_scale(None, [], None, None, None, no_joins) == [[1, 0, 1, 1, 0], [0, 1]]


def test_word_joins_are_none_for_tokenizers_without_words(sp, tiny_run):
    from seqcvae.generation.generator import Generator
    from seqcvae.generation.transfer_search import word_joins

    assert word_joins(Generator.load(tiny_run).tokenizer, [[5, 6]]) is None
    ids = [sp.encode(t) for t in SENTENCES[:2]]
    assert word_joins(sp, ids) == [sp.joins(i) for i in ids]


def test_the_style_keep_mode_leaves_the_marked_tokens_free(text_run, monkeypatch):
    """keep_mode "style": no token marked, it is the ordered bonus (a large one copies the input);
    every token marked, there is no bonus at all."""
    import seqcvae.generation.transfer_settings as transfer_settings

    gen, part = _held_out_sentences(text_run)
    sentences = part.sequences[:20]
    own = _tags_of(part, list(range(20)), "sentiment")
    target = {"sentiment": "neg"}

    def out(**kw):
        return [r.sequence for r in gen.transfer(sentences, target, own, **kw)]

    monkeypatch.setattr(transfer_settings, "STYLE_MARK", float("inf"))
    assert (
        out(keep=100.0, keep_mode="style")
        == out(keep=100.0, keep_mode="order")
        == [gen.tokenizer.decode(gen.tokenizer.encode(s)) for s in sentences]
    )
    monkeypatch.setattr(transfer_settings, "STYLE_MARK", float("-inf"))
    assert out(keep=100.0, keep_mode="style") == out() != out(keep=100.0, keep_mode="order")


# --- transfer --search ------------------------------------------------------------------------------


def test_the_search_takes_the_first_rung_that_passes_the_margin(text_run):
    """With a margin every output passes, each input keeps the first rung's output; with one no
    output passes, the last rung's; the rung taken and its margin are recorded."""
    from seqcvae.generation.transfer_search import search_transfer

    gen, part = _held_out_sentences(text_run)
    rows = list(range(24))
    sentences = [part.sequences[i] for i in rows]
    own = _tags_of(part, rows, "sentiment")
    target = {"sentiment": "neg"}
    ladder = [(1.0, 3.0), (2.0, 0.0)]

    def plain(w, b):
        return [r.sequence for r in gen.transfer(sentences, target, own, guidance=w, keep=b)]

    first = search_transfer(gen, sentences, target, own, ladder, margin=-1e9)
    assert [r.sequence for r in first] == plain(*ladder[0])
    assert {(r.extra["search_guidance"], r.extra["search_keep"]) for r in first} == {ladder[0]}
    last = search_transfer(gen, sentences, target, own, ladder, margin=1e9)
    assert [r.sequence for r in last] == plain(*ladder[1])
    assert [r.index for r in last] == rows
    middle = gen.transfer(sentences, target, own, search=ladder, margin=0.0)
    for rec, a, b in zip(middle, first, last):
        took_first = rec.extra["search_keep"] == 3.0
        assert rec.sequence == (a.sequence if took_first else b.sequence)
        assert (rec.extra["search_margin"] > 0) or not took_first


def test_the_margin_is_the_models_own_log_likelihood_ratio(text_run):
    from seqcvae.generation.transfer_search import sequence_logp
    from seqcvae.models.losses import reconstruction_nll
    from seqcvae.tokenizers.base import BOS, EOS

    gen, part = _held_out_sentences(text_run)
    texts = part.sequences[:5]
    ids = [gen.tokenizer.encode(t) for t in texts]
    z = gen.encode(texts)
    enc = gen._encode_requests([{"sentiment": "pos"}] * 5)
    with torch.no_grad():
        c = gen.model.embed_conditions(*(torch.from_numpy(a) for a in (enc.values, enc.present, enc.tags)))
        for row in range(5):  # one sequence at a time: no padding involved
            tokens = torch.tensor([[BOS, *ids[row], EOS]])
            logits = gen.model.decode(tokens[:, :-1], z[row : row + 1], c[row : row + 1]).float()
            want = -reconstruction_nll(logits, tokens[:, 1:], gen.model.shape.pad_id)
            got = sequence_logp(gen.model, ids, z, c)[row]  # padded with the others
            assert torch.isclose(got, want[0], atol=1e-4)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--search", "--keep", "1"], "drop --keep"),
        (["--search", "--guidance", "2"], "drop --guidance"),
        (["--search", "2/x"], "--search rung '2/x'"),
        (["--search", "0/1"], "--search rung '0/1'"),
        (["--margin", "3"], "--margin 3 applies to --search"),
        (["--search", "--margin", "nan"], "--margin nan"),
    ],
)
def test_bad_search_options_are_one_line_errors(text_run, capsys, extra, message):
    argv = ["transfer", "--checkpoint", str(text_run), "--text", INPUTS[0], "-c", "sentiment=neg"]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err


def test_transfer_search_from_the_command_line(text_run, tmp_path):
    out = tmp_path / "t.csv"
    argv = ["transfer", "--checkpoint", str(text_run), "--text", INPUTS[0], "--text", INPUTS[1]]
    argv += ["-c", "sentiment=neg", "--source", "sentiment=pos", "--search", "1/2,2/0", "--out", str(out)]
    assert main(argv) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["source"] for r in rows] == INPUTS
    assert all(float(r["search_guidance"]) in (1.0, 2.0) and r["search_margin"] for r in rows), rows
