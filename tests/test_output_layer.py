"""The decoders' output layer: the full softmax and the adaptive softmax give the same kind of
answers (normalised distributions, per-token NLL of the targets), and a text run with
`model.output_cutoffs` trains, saves, loads and samples."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from seqcvae.errors import ConfigError
from seqcvae.models.output import (
    AdaptiveOutput,
    SoftmaxOutput,
    TiedAdaptiveOutput,
    TiedOutput,
    check_cutoffs,
    output_layer,
)


def _states_and_targets(vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(3, 7, 16, generator=gen)
    targets = torch.randint(1, vocab, (3, 7), generator=gen)
    targets[0, 5:] = 0  # padding
    targets[2, 1] = vocab - 1  # the last tail id
    return h, targets


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("cutoffs", [(), (10,), (10, 30)])
def test_token_nll_is_minus_the_log_probability_of_each_target(cutoffs, tied):
    vocab = 50
    torch.manual_seed(0)
    layer = output_layer(16, vocab, cutoffs, torch.nn.Embedding(vocab, 6) if tied else None)
    kinds = {(False, False): SoftmaxOutput, (True, False): AdaptiveOutput}
    kinds.update({(False, True): TiedOutput, (True, True): TiedAdaptiveOutput})
    assert isinstance(layer, kinds[bool(cutoffs), tied])
    h, targets = _states_and_targets(vocab)
    logp = F.log_softmax(layer.logits(h), dim=-1)
    want = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).masked_fill(targets == 0, 0.0)
    got = layer.token_nll(h, targets, pad_id=0)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert bool((got[0, 5:] == 0).all()) and bool((got[0, :5] > 0).all())


@pytest.mark.parametrize("tied", [False, True])
def test_adaptive_logits_are_a_normalised_distribution_over_the_whole_vocabulary(tied):
    layer = output_layer(16, 50, (10, 30), torch.nn.Embedding(50, 6) if tied else None)
    h, _ = _states_and_targets(50)
    logits = layer.logits(h)
    assert logits.shape == (3, 7, 50)
    torch.testing.assert_close(logits.logsumexp(-1), torch.zeros(3, 7), atol=1e-5, rtol=0)


def test_the_adaptive_loss_learns_a_skewed_distribution_as_the_full_softmax_does():
    """Fitted to Zipf-distributed targets (one state), both layers reach the targets' entropy:
    the gradient reaches the head, the cluster entries and the tail projections."""
    gen = torch.Generator().manual_seed(1)
    vocab = 60
    probs = 1.0 / torch.arange(1, vocab).float()
    targets = 1 + torch.multinomial(probs / probs.sum(), 2000, replacement=True, generator=gen).view(40, 50)
    counts = torch.bincount(targets.flatten(), minlength=vocab).float()
    freq = counts[counts > 0] / counts.sum()
    entropy = float(-(freq * freq.log()).sum())
    h = torch.ones(40, 50, 16)
    for cutoffs, tied in (((), False), ((8,), False), ((8, 30), False), ((8, 30), True)):
        torch.manual_seed(0)
        embedding = torch.nn.Embedding(vocab, 6)
        layer = output_layer(16, vocab, cutoffs, embedding if tied else None)
        params = [*layer.parameters(), *(embedding.parameters() if tied else ())]
        opt = torch.optim.Adam(params, lr=0.05)
        for _ in range(300):
            loss = layer.token_nll(h, targets, pad_id=0).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert abs(float(loss.detach()) - entropy) < 0.03, (cutoffs, tied)


@pytest.mark.parametrize("cutoffs", [[0], [20, 10], [50], [10, 10], [2.5]])
def test_cutoffs_outside_the_vocabulary_are_refused(cutoffs):
    with pytest.raises(ConfigError, match="output_cutoffs"):
        check_cutoffs(cutoffs, 50)


def test_the_full_softmax_keeps_the_parameter_names_of_earlier_checkpoints():
    assert set(dict(output_layer(8, 20).named_parameters())) == {"weight", "bias"}


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seqcvae", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.mark.parametrize(
    ("settings", "described"),
    [
        ({"output_cutoffs": [60]}, ["adaptive softmax, clusters from 60"]),
        ({"tie_embeddings": True}, ["output tied to the token embeddings"]),
        (
            {"tie_embeddings": True, "output_cutoffs": [60]},
            ["(adaptive softmax, clusters from 60; output tied to the token embeddings)"],
        ),
        ({"decoder": "lstm"}, ["lstm decoder"]),
    ],
)
def test_a_text_run_with_another_output_layer_trains_loads_and_samples(tmp_path, settings, described):
    out = tmp_path / "run"
    given = [f"model.{key}={json.dumps(value).replace(' ', '')}" for key, value in settings.items()]
    r = _run(
        "train", "--config", "text_tiny", "--out", str(out), "--no-progress", *given, "train.max_steps=12",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    shape = json.loads((out / "checkpoints" / "last" / "meta.json").read_text())["model_shape"]
    assert {key: shape[key] for key in settings} == settings
    r = _run("info", "--checkpoint", str(out))
    assert r.returncode == 0 and all(d in r.stdout for d in described), r.stdout + r.stderr
    samples = tmp_path / "s.tsv"
    r = _run("generate", "--checkpoint", str(out), "--n", "6", "--seed", "1", "--out", str(samples))
    assert r.returncode == 0, r.stderr
    with open(samples, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["index"] for r in rows] == [str(i) for i in range(6)]


def test_cutoffs_past_the_vocabulary_get_one_line_and_exit_2(tmp_path):
    r = _run(
        "train", "--config", "text_tiny", "--out", str(tmp_path / "run"), "--no-progress",
        "model.output_cutoffs=[100000]",
    )  # fmt: skip
    assert r.returncode == 2
    assert "output_cutoffs" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # refused before anything is written, so the same --out can be used again as it is
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("decoder", ["gru", "lstm", "transformer"])
@pytest.mark.parametrize(("cutoffs", "tied"), [([], False), ([8], False), ([], True), ([8], True)])
def test_the_models_nll_is_that_of_its_own_logits_and_of_its_step_by_step_decoding(decoder, cutoffs, tied):
    """CVAE.decode_nll (the training loss) agrees with the teacher-forced logits and with the
    incremental decoding that sampling and beam search use, for every output layer."""
    from seqcvae.models.cvae import CVAE, CVAEShape

    torch.manual_seed(0)
    shape = CVAEShape(
        vocab_size=20, num_continuous=1, tag_sizes=[], embedding_dim=8, encoder_hidden=8,
        decoder_hidden=8, latent_dim=4, condition_dim=4, decoder=decoder, heads=2,
        max_positions=12, output_cutoffs=cutoffs, tie_embeddings=tied,
    )  # fmt: skip
    model = CVAE(shape).eval()
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(4, 20, (3, 7), generator=gen)
    tokens[:, 0] = 1
    tokens[2, 5:] = 0  # a shorter row
    z, c = torch.randn(3, 4, generator=gen), torch.randn(3, 4, generator=gen)
    with torch.no_grad():
        nll = model.decode_nll(tokens[:, :-1], z, c, tokens[:, 1:])
        logits = model.decode(tokens[:, :-1], z, c)
        state = model.decoder.start(torch.cat([z, c], dim=-1))
        stepped = []
        for t in range(tokens.shape[1] - 1):
            step_logits, state = model.decoder.step(model.embedding(tokens[:, t]), state)
            stepped.append(step_logits)
    targets = tokens[:, 1:]
    for full in (logits, torch.stack(stepped, dim=1)):
        want = -F.log_softmax(full, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        torch.testing.assert_close(nll, want.masked_fill(targets == 0, 0.0), atol=1e-4, rtol=1e-4)


def _assert_round_trip(model, fresh, states, logits, tmp_path) -> None:
    """model saved as safetensors (which refuses tensors stored twice) and loaded into `fresh`
    gives the same output `logits` for `states`."""
    from safetensors.torch import load_file, save_file

    save_file(model.state_dict(), str(tmp_path / "m.safetensors"))
    fresh.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
    with torch.no_grad():
        torch.testing.assert_close(fresh.decoder.out.logits(states), logits, atol=0, rtol=0)


def test_a_tied_output_layer_reads_the_token_embeddings_and_stores_them_once(tmp_path):
    """model.tie_embeddings: the decoder's logits are project(h) @ E^T + b with E the model's
    own embeddings, so changing E changes them and the output's gradient reaches E; the weights
    are stored once (a checkpoint round trip gives the same NLL); tied rows start in +-0.1."""
    from seqcvae.models.cvae import CVAE, CVAEShape

    def shape(tied: bool) -> CVAEShape:
        return CVAEShape(
            vocab_size=30, num_continuous=1, tag_sizes=[], embedding_dim=6, encoder_hidden=8,
            decoder_hidden=10, latent_dim=4, condition_dim=4, max_positions=12, tie_embeddings=tied,
        )  # fmt: skip

    torch.manual_seed(0)
    model = CVAE(shape(True))
    weight = model.embedding.weight.detach()
    assert float(weight.abs().max()) <= 0.1 and float(weight[1:].std()) > 0.03 and not weight[0].any()
    untied = sum(p.numel() for p in CVAE(shape(False)).parameters())
    # the 30 x 10 output matrix gives way to a 10 -> 6 projection
    assert sum(p.numel() for p in model.parameters()) == untied - 30 * 10 + 10 * 6 + 6
    tokens = torch.randint(4, 30, (2, 6))
    tokens[:, 0] = 1
    z, c = torch.randn(2, 4), torch.randn(2, 4)
    nll = model.decode_nll(tokens[:, :-1], z, c, tokens[:, 1:])
    nll.sum().backward()
    grad = model.embedding.weight.grad
    assert grad is not None and bool((grad[tokens[:, 1:].flatten()].abs().sum(-1) > 0).all())
    with torch.no_grad():
        states = torch.randn(2, 10)
        before = model.decoder.out.logits(states)
        model.embedding.weight[7] += 1.0
        after = model.decoder.out.logits(states)
    assert not torch.allclose(before[:, 7], after[:, 7]) and torch.equal(before[:, 8], after[:, 8])

    _assert_round_trip(model, CVAE(shape(True)), states, after, tmp_path)


def test_the_tied_adaptive_softmax_scores_through_the_embeddings_and_stores_them_once(tmp_path):
    """With output_cutoffs, tying keeps the adaptive softmax's clusters: a head word's and a tail
    word's log-probability both move when only their embedding row moves, the gradient of a
    tail target reaches its row, and the model has no output matrix of its own."""
    from seqcvae.models.cvae import CVAE, CVAEShape

    def shape(tied: bool) -> CVAEShape:
        return CVAEShape(
            vocab_size=30, num_continuous=1, tag_sizes=[], embedding_dim=6, encoder_hidden=8,
            decoder_hidden=10, latent_dim=4, condition_dim=4, max_positions=12, tie_embeddings=tied,
            output_cutoffs=[8],
        )  # fmt: skip

    torch.manual_seed(0)
    model = CVAE(shape(True))
    out = model.decoder.out
    assert isinstance(out, TiedAdaptiveOutput)
    assert not any(p.shape[0] == 30 for p in out.parameters())  # no output matrix over the vocabulary
    states = torch.randn(2, 10)
    with torch.no_grad():
        before = out.logits(states)
        model.embedding.weight[3] += 1.0  # a head word
        model.embedding.weight[20] += 1.0  # a tail word
        after = out.logits(states)
    torch.testing.assert_close(after.logsumexp(-1), torch.zeros(2), atol=1e-5, rtol=0)
    moved = (after - before).abs().max(0).values > 1e-4
    assert bool(moved[3]) and bool(moved[20])
    tokens = torch.tensor([[1, 20, 25, 3], [1, 3, 20, 2]])
    nll = model.decode_nll(tokens[:, :-1], torch.randn(2, 4), torch.randn(2, 4), tokens[:, 1:])
    nll.sum().backward()
    grad = model.embedding.weight.grad
    assert grad is not None and bool((grad[[20, 25]].abs().sum(-1) > 0).all())

    _assert_round_trip(model, CVAE(shape(True)), states, after, tmp_path)


def test_the_text_lm_recipe_names_no_corpus_and_trains_on_one(tmp_path):
    """`--config text_lm` asks for its training file in one line; given one, it trains an LSTM
    decoder whose adaptive softmax is tied to the word embeddings."""
    r = _run("train", "--config", "text_lm", "--out", str(tmp_path / "none"), "--no-progress")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: data.train_path is empty: set data.train_path=FILE, the training data"
    ]
    out = tmp_path / "run"
    r = _run(
        "train", "--config", "text_lm", "--out", str(out), "--no-progress",
        "data.train_path=data/vader/train.tsv.gz", "data.limit=300", "train.max_steps=2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    shape = json.loads((out / "checkpoints" / "last" / "meta.json").read_text())["model_shape"]
    assert (shape["decoder"], shape["tie_embeddings"], shape["output_cutoffs"]) == ("lstm", True, [2000])
