"""A trainer's state in and out of checkpoints: what a checkpoint records (position, budget plan,
best validation score, model shape, precision) and, in resumable ones, the optimizer and RNG
states; and restoring all of it for --resume."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from seqcvae.io.cache import file_sha256
from seqcvae.models.checkpoint import CheckpointData, checkpoint_label, rng_state, set_rng_state
from seqcvae.training.annealing import SchedulePlan
from seqcvae.training.build import reseed_per_rank

ADVERSARY = "tag_adversary."  # weight names of the tag adversary (models.cvae.TagAdversary)

if TYPE_CHECKING:
    from seqcvae.training.trainer import Trainer


def restore(trainer: Trainer, ckpt: CheckpointData) -> None:
    """Continue from `ckpt` (a resumable checkpoint, loaded with its training state)."""
    state = ckpt.train_state or {}
    # With weight averaging the checkpoint's weights are the average and the trained ones are kept
    # in its training state; a run that begins averaging now starts the average at its weights.
    raw = state.get("raw_weights")
    trainer.model.load_state_dict(raw if raw is not None else ckpt.weights)
    trainer.reset_average(ckpt.weights if raw is not None else None, int(state.get("ema_updates", 0)))
    # Resume with the precision the run started with ("auto" is a measurement, not a setting).
    trainer.matmul_dtype = torch.bfloat16 if ckpt.meta.get("precision") == "bf16" else None
    trainer.model.set_matmul_dtype(trainer.matmul_dtype)
    opt = state["optimizer"]
    opt["state"] = {int(k): v for k, v in opt["state"].items()}
    trainer.optimizer.load_state_dict(opt)
    set_rng_state(state["rng"])
    reseed_per_rank(trainer.cfg.train.seed, trainer.dist, ckpt.meta["step"])
    trainer.generator.set_state(state["generator"])
    m = ckpt.meta
    trainer.step, trainer.epoch, trainer.batch_in_epoch = m["step"], m["epoch"], m["batch_in_epoch"]
    trainer.elapsed = m["elapsed_s"]
    trainer.init_from = m.get("init_from")
    # best_val_elbo: the name of the same negative ELBO in checkpoints written before the rename
    trainer.best_val = m.get("best_val_nelbo", m.get("best_val_elbo", math.inf))
    trainer.budget.plan = SchedulePlan.from_dict(m["schedule"]) if m.get("schedule") else None
    saved_world = int(m.get("world_size", 1))
    if saved_world != trainer.dist.world_size and trainer.batch_in_epoch:
        trainer.log(
            f"warning: resuming mid-epoch with {trainer.dist.world_size} process(es) instead of "
            f"{saved_world}: a batch smaller than the process count is skipped only when "
            "distributed, so the rest of this epoch may skip or repeat one batch"
        )


def initialise(trainer: Trainer, ckpt: CheckpointData) -> None:
    """A new run from a trained model's weights; the model's shape already is the checkpoint's,
    but for a tag adversary this run adds (it starts untrained) or drops."""
    own = dict(trainer.model.state_dict())
    weights = {k: v for k, v in ckpt.weights.items() if k in own or not k.startswith(ADVERSARY)}
    old_names = [c["name"] for c in ckpt.conditions["continuous"]]
    new_names = [c.name for c in trainer.prepared.conditions.continuous]
    if new_names != old_names:
        weights.update(added_property_weights(ckpt.weights, own, old_names, new_names))
    weights.update({k: v for k, v in own.items() if k.startswith(ADVERSARY) and k not in weights})
    trainer.model.load_state_dict(weights)
    trainer.reset_average()
    trainer.init_from = {"checkpoint": checkpoint_label(ckpt.path), "step": ckpt.meta.get("step")}
    weights_file = ckpt.path / "model.safetensors"
    if weights_file.is_file():  # which weights: a pretrained name or a run directory may change
        trainer.init_from["weights_sha256"] = file_sha256(weights_file)
    meta_init = ckpt.meta.get("init_from")
    if meta_init:  # a chain of fine-tunes keeps where it began
        trainer.init_from["from"] = meta_init


CONTINUOUS = "condition.continuous."  # models.conditioning.ConditionEmbedder: values, then flags


def added_property_weights(
    source: dict[str, torch.Tensor],
    own: dict[str, torch.Tensor],
    old_names: list[str],
    new_names: list[str],
) -> dict[str, torch.Tensor]:
    """The continuous-condition layer of a model with `new_names` (the source's `old_names` plus
    added properties) from the source's: each kept property's value and presence columns copied
    under its new position, the added ones zero, so that the model starts out as the source,
    whatever is asked of the new properties, and learns them from there."""
    weight = torch.zeros_like(own[CONTINUOUS + "weight"])
    p_old, p_new = len(old_names), len(new_names)
    if p_old:
        old_weight = source[CONTINUOUS + "weight"]
        for j, name in enumerate(old_names):
            k = new_names.index(name)
            weight[:, k] = old_weight[:, j]  # the standardised value
            weight[:, p_new + k] = old_weight[:, p_old + j]  # its presence flag
    bias = source[CONTINUOUS + "bias"] if p_old else torch.zeros_like(own[CONTINUOUS + "bias"])
    return {CONTINUOUS + "weight": weight, CONTINUOUS + "bias": bias.clone()}


def checkpoint_data(trainer: Trainer, metrics: dict[str, float], resumable: bool) -> CheckpointData:
    """The trainer's checkpoint; a resumable one adds the optimizer and RNG states (and, with
    weight averaging, the trained weights: the checkpoint's own are the average)."""
    plan = trainer.budget.plan
    meta = {
        "step": trainer.step,
        "epoch": trainer.epoch,
        "batch_in_epoch": trainer.batch_in_epoch,
        "elapsed_s": trainer.elapsed,
        "best_val_nelbo": trainer.best_val,
        "metrics": metrics,
        "model_shape": trainer.shape.to_dict(),
        "kind": trainer.cfg.data.kind,
        "data_summary": trainer.prepared.data_summary,
        "precision": trainer.precision_label,
        "world_size": trainer.dist.world_size,
        "schedule": plan.to_dict() if plan else None,
        "init_from": trainer.init_from,
    }
    train_state = None
    if resumable:
        train_state = {
            "optimizer": trainer.optimizer.state_dict(),
            "rng": rng_state(),
            "generator": trainer.generator.get_state(),
        }
        if trainer.average is not None:  # the weights below are the average: keep the trained ones
            train_state["raw_weights"] = dict(trainer.model.state_dict())
            train_state["ema_updates"] = trainer.average.updates
    return CheckpointData(
        meta=meta,
        config=trainer.cfg.to_dict(),
        weights=trainer.served_weights(),
        tokenizer=trainer.prepared.tokenizer.to_dict(),
        conditions=trainer.prepared.conditions.to_dict(),
        train_state=train_state,
    )
