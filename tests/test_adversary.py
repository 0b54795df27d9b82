"""The tag adversary on z (train.adversary_weight): which weights each of its terms trains, its loss,
its place in the model and in fine-tuning, and that it really takes the tag out of z."""

from __future__ import annotations

import csv
import random

import pytest
import torch

from seqcvae.cli import main
from seqcvae.config import load_config
from seqcvae.errors import ConfigError
from seqcvae.generation.generator import Generator
from seqcvae.models.checkpoint import load_checkpoint
from seqcvae.models.cvae import TagAdversary
from seqcvae.training.policy import tag_adversary_loss, value_adversary_loss

pytestmark = pytest.mark.usefixtures("one_thread")

POSITIVE = ["great", "lovely", "superb", "friendly", "tasty"]
NEGATIVE = ["awful", "rude", "bland", "dirty", "cold"]
THINGS = ["food", "staff", "room", "pizza", "coffee", "service", "bread", "music"]


def write_corpus(path, n: int = 600, seed: int = 0) -> None:
    """Sentences whose sentiment words follow the tag and whose other words are random content."""
    rng = random.Random(seed)
    lines = ["sentiment\ttext"]
    for i in range(n):
        tag, words = ("pos", POSITIVE) if i % 2 else ("neg", NEGATIVE)
        a, b = rng.sample(THINGS, 2)
        lines.append(f"{tag}\tthe {a} was {rng.choice(words)} and the {b} was {rng.choice(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def train_run(out, data, *extra: str) -> int:
    return main(
        [
            "train",
            "--config",
            "text_tiny",
            "--out",
            str(out),
            "--no-progress",
            f"data.train_path={str(data)!r}",
            f"data.val_path={str(data)!r}",
            "data.tags=['sentiment']",
            "data.limit=0",
            "data.vocab_size=60",
            *extra,
        ]
    )


def test_the_adversary_learns_from_its_own_logits_and_the_encoder_from_the_probe():
    """Its cross-entropy reaches only the adversary's weights; the entropy term reaches only z."""
    adv = TagAdversary(4, [3], 8)
    z = torch.randn(5, 4, requires_grad=True)
    own, probe, own_values, probe_values = adv(z)
    assert own_values is None and probe_values is None  # no continuous conditions, no value head
    torch.nn.functional.cross_entropy(own[0], torch.tensor([1, 2, 1, 2, 1])).backward(retain_graph=True)
    assert z.grad is None and adv.trunk.weight.grad is not None
    adv.zero_grad()
    (probe[0].softmax(-1) * probe[0].log_softmax(-1)).sum().backward()
    assert z.grad is not None and adv.trunk.weight.grad is None
    assert all(torch.equal(a, b) for a, b in zip(own, probe))


def test_the_adversary_loss_is_cross_entropy_minus_entropy_over_known_tags():
    own = [torch.tensor([[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [5.0, 0.0, 0.0]])]
    probe = [torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 3.0], [0.0, 9.0, 0.0]])]
    tags = torch.tensor([[1], [2], [0]])  # row 3: tag "any", not a label
    ce = -torch.log_softmax(own[0][0], 0)[1] - torch.log_softmax(own[0][1], 0)[2]
    p = torch.softmax(probe[0][:2, 1:], -1)
    entropy = -(p * p.log()).sum()
    assert torch.isclose(tag_adversary_loss(own, probe, tags), ce - entropy)
    # a probe that cannot tell the tags apart has the largest entropy, log 2 per labelled row
    flat = [torch.zeros(3, 3)]
    assert torch.isclose(tag_adversary_loss(own, flat, tags), ce - 2 * torch.log(torch.tensor(2.0)))


def test_an_adversary_without_conditions_is_refused():
    with pytest.raises(ConfigError, match=r"train.adversary_weight = 1.0 needs conditions.*data.tags"):
        load_config("text_tiny", ["train.adversary_weight=1", "data.tags=[]"])
    load_config("smiles_tiny", ["train.adversary_weight=1"])  # properties to hide: accepted


def test_adversary_accuracy_counts_labelled_rows_over_tag_values():
    from seqcvae.evaluation.diagnostics import _adversary_hits

    # two tags; rows' tags (0 = unspecified, not counted); logits over (unspecified, values...)
    tags = torch.tensor([[1, 2], [2, 0], [0, 1]])
    first = torch.tensor([[9.0, 1.0, 0.0], [9.0, 1.0, 0.0], [0.0, 0.0, 5.0]])  # argmax of values: 1, 1, 2
    second = torch.tensor([[0.0, 0.0, 3.0], [0.0, 3.0, 0.0], [0.0, 3.0, 0.0]])  # 2, 1, 1
    # first tag: row 0 right (1), row 1 wrong (2 vs 1); second tag: row 0 right (2), row 2 right (1)
    assert _adversary_hits([first, second], tags) == (3, 4)


def test_a_run_with_the_adversary_trains_saves_and_generates(tmp_path):
    data = tmp_path / "corpus.tsv"
    write_corpus(data, n=200)
    out = tmp_path / "adv"
    assert train_run(out, data, "train.adversary_weight=2", "train.max_steps=6") == 0
    ckpt = load_checkpoint(out)
    assert ckpt.meta["model_shape"]["tag_adversary"] > 0
    with open(out / "metrics.csv", encoding="utf-8") as fh:
        val = [r for r in csv.DictReader(fh) if r["split"] == "val"]
    assert val and all(0 <= float(r["adversary_accuracy"]) <= 1 for r in val)
    assert 0 <= ckpt.meta["metrics"]["val_adversary_accuracy"] <= 1
    assert any(k.startswith("tag_adversary.") for k in ckpt.weights)
    gen = Generator.load(out)
    text = "the food was great and the staff was lovely"
    recs = gen.transfer([text], {"sentiment": "neg"}, {"sentiment": "pos"})
    assert len(recs) == 1 and isinstance(recs[0].sequence, str)
    # fine-tuning without the adversary drops it; with it, a run without one gains a new one
    plain = tmp_path / "plain"
    assert train_run(plain, data, "train.max_steps=2") == 0
    assert not any(k.startswith("tag_adversary.") for k in load_checkpoint(plain).weights)
    for source, weight, has in ((out, 0, False), (plain, 2, True)):
        tuned = tmp_path / f"tuned_{weight}"
        args = ["train", "--init-from", str(source), "--out", str(tuned), "--no-progress"]
        args += [f"data.train_path={str(data)!r}", f"data.val_path={str(data)!r}"]
        args += ["train.lr=1e-12", "train.min_lr=0", "train.weight_decay=0"]
        assert main([*args, "train.max_steps=2", f"train.adversary_weight={weight}"]) == 0
        tuned_ckpt = load_checkpoint(tuned)
        assert any(k.startswith("tag_adversary.") for k in tuned_ckpt.weights) is has
        # the rest of the model came from the source: at a learning rate of ~0 it is unchanged
        src = load_checkpoint(source).weights
        assert all(
            torch.allclose(tuned_ckpt.weights[k], v, atol=1e-6)
            for k, v in src.items()
            if k in tuned_ckpt.weights
        )


def train_toy(weight: float, steps: int = 400) -> float:
    """A linear autoencoder of 5 coordinates (one is the tag, +-2; four are content, sd 1) through a
    3-d z, trained with the adversary's loss at `weight`; returns how well a logistic regression
    reads the tag off z (training accuracy, 1.0 = z carries the tag)."""
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(1, 3, (512,), generator=g)
    x = torch.cat([2 * (labels.float() * 2 - 3).unsqueeze(1), torch.randn(512, 4, generator=g)], dim=1)
    torch.manual_seed(0)
    enc, dec, adv = torch.nn.Linear(5, 3), torch.nn.Linear(3, 5), TagAdversary(3, [3], 16)
    params = [*enc.parameters(), *dec.parameters(), *adv.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    for _ in range(steps):
        z = enc(x)
        loss = (dec(z) - x).pow(2).sum()
        if weight > 0:
            read = adv(z)
            loss = loss + weight * tag_adversary_loss(read.own, read.probe, labels.unsqueeze(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    z = enc(x).detach().numpy()
    return float(LogisticRegression(max_iter=1000).fit(z, labels.numpy()).score(z, labels.numpy()))


def test_the_adversary_takes_the_tag_out_of_z():
    """Without the adversary the autoencoder's z carries the tag (it must reconstruct it); with it,
    a linear probe reads the tag off z hardly better than chance, while the content is kept."""
    assert train_toy(0.0) > 0.99
    assert train_toy(20.0) < 0.65


# --- continuous conditions (properties) ---------------------------------------------------------


def test_the_value_loss_is_squared_error_plus_the_probe_pulled_to_the_mean():
    own = torch.tensor([[1.0, 0.0], [0.5, 2.0]])
    probe = torch.tensor([[0.5, 3.0], [-1.0, 1.0]])
    values = torch.tensor([[0.0, 9.0], [1.0, 1.0]])
    present = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # row 0's second value was hidden from the model
    fit = 1.0**2 + 0.5**2 + 1.0**2
    pull = 0.5**2 + 1.0**2 + 1.0**2
    assert torch.isclose(value_adversary_loss(own, probe, values, present), torch.tensor(fit + pull))


def test_the_value_head_learns_from_its_own_reading_and_the_encoder_from_the_probe():
    adv = TagAdversary(4, [], 8, values=2)
    z = torch.randn(5, 4, requires_grad=True)
    read = adv(z)
    assert read.own == [] and read.own_values is not None and read.probe_values is not None
    read.own_values.pow(2).sum().backward(retain_graph=True)
    assert z.grad is None and adv.values is not None and adv.values.weight.grad is not None
    adv.zero_grad()
    read.probe_values.pow(2).sum().backward()
    assert z.grad is not None and adv.values.weight.grad is None
    assert torch.equal(read.own_values, read.probe_values)


def train_value_toy(weight: float, steps: int = 400) -> float:
    """A linear conditional autoencoder of 5 coordinates: one is a property y (sd 1, given to the
    decoder as its condition), four are content correlated with it; z is 3-d. Trained with the
    value adversary at `weight`; returns the R^2 of a linear regression of y on z."""
    g = torch.Generator().manual_seed(0)
    y = torch.randn(512, 1, generator=g)
    content = torch.randn(512, 4, generator=g) + y  # content that tells y
    x = torch.cat([y, content], dim=1)
    torch.manual_seed(0)
    enc, dec, adv = torch.nn.Linear(6, 3), torch.nn.Linear(4, 5), TagAdversary(3, [], 16, values=1)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters(), *adv.parameters()], lr=1e-2)
    present = torch.ones_like(y)
    for _ in range(steps):
        z = enc(torch.cat([x, y], dim=1))
        loss = (dec(torch.cat([z, y], dim=1)) - x).pow(2).sum()
        if weight > 0:
            read = adv(z)
            assert read.own_values is not None and read.probe_values is not None
            loss = loss + weight * value_adversary_loss(read.own_values, read.probe_values, y, present)
        opt.zero_grad()
        loss.backward()
        opt.step()
    z = enc(torch.cat([x, y], dim=1)).detach()
    design = torch.cat([z, torch.ones(len(z), 1)], dim=1)
    fit = torch.linalg.lstsq(design, y).solution
    return float(1 - (design @ fit - y).pow(2).mean() / y.var())


def test_the_value_adversary_takes_the_property_out_of_z():
    """Without it z follows the content and so tells y (R^2 well above 0); with it a linear probe
    reads almost nothing of y off z, though the decoder is given y anyway."""
    assert train_value_toy(0.0) > 0.5
    assert train_value_toy(20.0) < 0.05


def test_a_smiles_run_with_the_adversary_has_value_heads_and_generates(tmp_path):
    out = tmp_path / "adv"
    argv = ["train", "--config", "smiles_tiny", "--out", str(out), "--no-progress"]
    assert main([*argv, "train.adversary_weight=1", "train.max_steps=4"]) == 0
    ckpt = load_checkpoint(out)
    shape = ckpt.meta["model_shape"]
    assert shape["tag_adversary"] > 0 and shape["value_adversary"] is True
    assert ckpt.weights["tag_adversary.values.weight"].shape[0] == shape["num_continuous"]
    recs = Generator.load(out).generate({"LogP": 2.0}, n=5)
    assert len(recs) == 5
