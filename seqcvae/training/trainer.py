"""The training loop: AdamW, clipping, LR and KL schedules, free bits, word and condition dropout,
validation ELBO each epoch (and every train.val_every_steps), metrics CSV, best/last checkpoints,
resume, Ctrl-C safety.

Every schedule is a function of the step. A time budget (train.max_minutes) is converted into a
step count once, from the times of the first CALIBRATION_STEPS steps (or of the steps before the
first checkpoint, if that comes sooner); the count is stored in every checkpoint, so a resume keeps
the schedule. The wall clock still stops a run whose steps become slower than measured.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from seqcvae.config import RunConfig
from seqcvae.data.dataset import Batch, TokenDataset
from seqcvae.data.splits import RunData
from seqcvae.devices import bf16_speedup, pick_device
from seqcvae.models.checkpoint import (
    CheckpointData,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from seqcvae.models.cvae import CVAE, CVAEShape
from seqcvae.models.losses import free_bits_kl, gaussian_kl, reconstruction_nll
from seqcvae.tokenizers.base import BOS, PAD, UNK
from seqcvae.training import distributed
from seqcvae.training.annealing import SchedulePlan, beta_at, lr_at, steps_for_budget

# Validation diagnostics of the model on held-out data (injected, so training never imports evaluation).
Validator = Callable[[CVAE, TokenDataset], dict[str, float]]

# A time budget is converted into a step count after this many steps (or at the first checkpoint).
CALIBRATION_STEPS = 20

# Times each training step; tests replace it with a deterministic clock (tests/fakeclock.py).
step_clock: Callable[[], float] = time.perf_counter

# Validation diagnostics logged to metrics.csv and stored (prefixed val_) in checkpoints.
VAL_METRICS = ("rec", "kl", "elbo", "iw_nll", "active_units", "mutual_info", "recon_accuracy")

METRIC_COLUMNS = [
    "step",
    "epoch",
    "split",
    "loss",
    "rec",
    "kl",
    "beta",
    "lr",
    "elbo",
    "iw_nll",
    "active_units",
    "mutual_info",
    "recon_accuracy",
    "sequences_per_s",
    "tokens_per_s",
    "elapsed_s",
]


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """None (float32) or torch.bfloat16 for the GRU matrix products."""
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if bf16_speedup(device) >= 1.5 else None


def model_shape(cfg: RunConfig, prepared: RunData) -> CVAEShape:
    return CVAEShape.from_config(
        cfg.model,
        vocab_size=prepared.tokenizer.vocab_size,
        num_continuous=prepared.conditions.num_continuous,
        tag_sizes=prepared.conditions.tag_sizes,
        max_positions=max(cfg.data.max_length, cfg.sample.max_length) + 2,
        pad_id=PAD,
    )


def _f32(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.float()


class _TrainForward(torch.nn.Module):
    """Condition embedding + CVAE forward as one module, so DistributedDataParallel sees every
    parameter used in a training step inside its forward."""

    def __init__(self, model: CVAE):
        super().__init__()
        self.model = model

    def forward(
        self,
        b: Batch,
        present: torch.Tensor,
        tags: torch.Tensor,
        inputs: torch.Tensor,
        noise: torch.Tensor,
    ) -> Any:
        c = self.model.embed_conditions(b.cond_values, present, tags)
        return self.model(b.tokens, b.lengths, c, decoder_inputs=inputs, noise=noise)


@dataclass
class StepResult:
    loss: float
    rec: float  # nats per sequence
    kl: float  # nats per sequence (true KL, before free bits)
    tokens: int
    sequences: int


class Trainer:
    def __init__(
        self,
        cfg: RunConfig,
        run_dir: Path,
        prepared: RunData,
        *,
        validate: Validator,
        log: Callable[[str], None] = print,
        progress: bool = True,
        dist_info: distributed.DistInfo | None = None,
    ):
        self.cfg = cfg
        self._validator = validate
        self.run_dir = Path(run_dir)
        self.prepared = prepared
        self.log = log
        self.progress = progress
        self.dist = dist_info or distributed.DistInfo()
        t = cfg.train
        self.device = pick_device(distributed.device_for(t.device, self.dist))
        if t.threads > 0:
            torch.set_num_threads(t.threads)
        elif self.dist.enabled and self.device.type == "cpu":
            # Processes on one machine share its cores: without this each takes all of them.
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.dist.local_world_size))
        torch.manual_seed(t.seed)  # identical initial weights in every process
        self.shape = model_shape(cfg, prepared)
        self.model = CVAE(self.shape).to(self.device)
        self._reseed_per_rank(0)
        self.matmul_dtype = resolve_precision(t.precision, self.device)
        self.model.set_matmul_dtype(self.matmul_dtype)
        self.forward_module: torch.nn.Module = _TrainForward(self.model)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward_module = DistributedDataParallel(self.forward_module, device_ids=ids)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.elapsed = 0.0
        self.best_val = math.inf
        self.generator = torch.Generator().manual_seed(t.seed)
        self.plan: SchedulePlan | None = None  # the run's step count, once known
        self._step_times: list[float] = []  # this process's step times until the plan is made
        self._validated_at = -1  # the step of the last validation (never twice at one step)

    def _reseed_per_rank(self, step: int) -> None:
        """Distributed: a different global RNG stream per process (nn.Dropout masks), fixed by
        (seed, rank, step); the masks and noise the trainer draws itself stay shared."""
        if self.dist.enabled:
            torch.manual_seed(hash((self.cfg.train.seed, self.dist.rank, step)) & 0x7FFF_FFFF)

    @property
    def autocast(self) -> bool:
        """bfloat16 autocast on CUDA (all layers); on CPU only the GRU products use bf16."""
        return self.device.type == "cuda" and self.matmul_dtype == torch.bfloat16

    @property
    def precision_label(self) -> str:
        """ "bf16" when GRU products actually run in bfloat16 (on CPU Transformer layers stay fp32;
        on CUDA autocast runs every layer in bf16)."""
        from seqcvae.models.gru import GRULayer

        if self.autocast:
            return "bf16"
        has_gru = any(isinstance(m, GRULayer) for m in self.model.modules())
        return "bf16" if self.matmul_dtype == torch.bfloat16 and has_gru else "fp32"

    # ----- state -----------------------------------------------------------------------------
    def restore(self, ckpt: CheckpointData) -> None:
        self.model.load_state_dict(ckpt.weights)
        # Resume with the precision the run started with ("auto" is a measurement, not a setting).
        self.matmul_dtype = torch.bfloat16 if ckpt.meta.get("precision") == "bf16" else None
        self.model.set_matmul_dtype(self.matmul_dtype)
        state = ckpt.train_state or {}
        opt = state["optimizer"]
        opt["state"] = {int(k): v for k, v in opt["state"].items()}
        self.optimizer.load_state_dict(opt)
        set_rng_state(state["rng"])
        self._reseed_per_rank(ckpt.meta["step"])
        self.generator.set_state(state["generator"])
        m = ckpt.meta
        self.step, self.epoch, self.batch_in_epoch = m["step"], m["epoch"], m["batch_in_epoch"]
        self.elapsed, self.best_val = m["elapsed_s"], m.get("best_val_elbo", math.inf)
        self.plan = SchedulePlan.from_dict(m["schedule"]) if m.get("schedule") else None
        saved_world = int(m.get("world_size", 1))
        if saved_world != self.dist.world_size and self.batch_in_epoch:
            self.log(
                f"warning: resuming mid-epoch with {self.dist.world_size} process(es) instead of "
                f"{saved_world}: a batch smaller than the process count is skipped only when "
                "distributed, so the rest of this epoch may skip or repeat one batch"
            )

    def checkpoint_data(self, metrics: dict[str, float], resumable: bool) -> CheckpointData:
        meta = {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "elapsed_s": self.elapsed,
            "best_val_elbo": self.best_val,
            "metrics": metrics,
            "model_shape": self.shape.to_dict(),
            "kind": self.cfg.data.kind,
            "data_summary": self.prepared.data_summary,
            "precision": self.precision_label,
            "world_size": self.dist.world_size,
            "schedule": self.plan.to_dict() if self.plan else None,
        }
        train_state = None
        if resumable:
            train_state = {
                "optimizer": self.optimizer.state_dict(),
                "rng": rng_state(),
                "generator": self.generator.get_state(),
            }
        return CheckpointData(
            meta=meta,
            config=self.cfg.to_dict(),
            weights=dict(self.model.state_dict()),
            tokenizer=self.prepared.tokenizer.to_dict(),
            conditions=self.prepared.conditions.to_dict(),
            train_state=train_state,
        )

    # ----- one step --------------------------------------------------------------------------
    def _condition_dropout(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.cfg.train.condition_dropout
        present, tags = b.cond_present, b.cond_tags
        if p > 0:
            keep = torch.rand(present.shape, generator=self.generator) >= p
            present = present * keep.to(present.dtype)
            keep_t = torch.rand(tags.shape, generator=self.generator) >= p
            tags = tags * keep_t.to(tags.dtype)
        return present, tags

    def _word_dropout(self, inputs: torch.Tensor) -> torch.Tensor:
        p = self.cfg.train.word_dropout
        if p <= 0:
            return inputs
        drop = torch.rand(inputs.shape, generator=self.generator) < p
        drop &= (inputs != PAD) & (inputs != BOS)
        return inputs.masked_fill(drop, UNK)

    def train_step(self, b: Batch, beta: float, lr: float) -> StepResult:
        """One optimisation step on the global batch b (this process's share of it, when
        distributed: rows rank, rank + W, ...). Masks and latent noise are drawn for the whole
        batch from the trainer's generator, so every process draws the same ones."""
        t = self.cfg.train
        present, tags = self._condition_dropout(b)
        inputs = self._word_dropout(b.tokens[:, :-1])
        noise = torch.randn(b.size, self.shape.latent_dim, generator=self.generator)
        n_tokens, n_seqs = int(b.lengths.sum()), b.size  # of the global batch
        world = self.dist.world_size
        if self.dist.enabled:
            share = slice(self.dist.rank, None, world)
            b, present, tags, inputs, noise = (
                b.rows(share),
                present[share],
                tags[share],
                inputs[share],
                noise[share],
            )
        b = b.to(self.device)
        present, tags, inputs, noise = (x.to(self.device) for x in (present, tags, inputs, noise))
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.forward_module(b, present, tags, inputs, noise)
            rec = reconstruction_nll(out.logits.float(), b.tokens[:, 1:], self.shape.pad_id)
        kl_dim = gaussian_kl(out.mu.float(), out.logvar.float(), _f32(out.prior_mu), _f32(out.prior_logvar))
        kl_opt = free_bits_kl(kl_dim, t.free_bits)
        # Per-token ELBO of the global batch; DDP averages gradients over the W processes.
        loss = (rec.sum() + beta * kl_opt.sum()) * (world / n_tokens)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
        self.optimizer.step()
        stats = torch.stack([loss.detach() / world, rec.detach().sum(), kl_dim.detach().sum()])
        loss_v, rec_sum, kl_sum = distributed.all_reduce_(stats).tolist()
        return StepResult(loss_v, rec_sum / n_seqs, kl_sum / n_seqs, n_tokens, n_seqs)

    def validate(self, ds: TokenDataset) -> dict[str, float]:
        """Validation diagnostics from the injected validator (the train recipe passes
        `seqcvae.recipes.train.diagnostics_validator`): a dict with at least VAL_METRICS."""
        return self._validator(self.model, ds)

    # ----- loop ------------------------------------------------------------------------------
    def _epoch_batches(self, epoch: int) -> list[Any]:
        t = self.cfg.train
        batches = self.prepared.train.batches(t.batch_size, t.seed, epoch)
        if self.dist.enabled:  # every process needs a share of every batch
            batches = [b for b in batches if len(b) >= self.dist.world_size]
        return batches

    def _step_bound(self) -> int:
        """The most steps train.epochs and train.max_steps allow."""
        t = self.cfg.train
        bound = t.epochs * len(self._epoch_batches(0))  # the same number of batches every epoch
        return min(bound, t.max_steps) if t.max_steps > 0 else bound

    def _plan(self, step_bound: int) -> None:
        """Fix the step count once: the step bound, or for a time budget what the measured step
        times allow (at most the step bound). Every process computes the same count (the step
        times are the maximum over processes)."""
        t = self.cfg.train
        if self.plan is not None:
            return
        seconds = None
        steps = step_bound
        if t.max_minutes > 0:
            times = self._step_times
            steps = steps_for_budget(self.step, self.elapsed, 60 * t.max_minutes, times)
            steps = min(step_bound, steps)
            seconds = statistics.median(times) if times else self.elapsed / max(1, self.step)
            self.log(
                f"time budget {t.max_minutes:g} min: {steps} steps at {1000 * seconds:.0f} ms a step "
                f"(measured over {len(times) or self.step} steps); the LR schedule ends there"
            )
        self.plan = SchedulePlan(steps, t.epochs, t.max_steps, t.max_minutes, seconds)
        self._step_times = []

    def _planned_steps(self) -> int | None:
        """The plan's step count while the budget is the one it was planned for: the end of the
        run. After a --resume with another budget, that budget alone decides (the schedule stays)."""
        t = self.cfg.train
        p = self.plan
        return p.steps if p is not None and p.same_budget(t.epochs, t.max_steps, t.max_minutes) else None

    def _expected_steps(self, step_bound: int) -> int:
        """For the progress bar."""
        planned = self._planned_steps()
        return step_bound if planned is None else planned

    def _out_of_budget(self) -> bool:
        t = self.cfg.train
        planned = self._planned_steps()
        return (
            (t.max_steps > 0 and self.step >= t.max_steps)
            or (t.max_minutes > 0 and self.elapsed >= 60 * t.max_minutes)
            or (planned is not None and self.step >= planned)
        )

    def _write_metrics(self, row: dict[str, Any]) -> None:
        path = self.run_dir / "metrics.csv"
        new = not path.exists()
        columns = METRIC_COLUMNS
        if not new:  # appending after --resume: keep the file's own header (older runs had fewer)
            with open(path, newline="", encoding="utf-8") as fh:
                columns = next(csv.reader(fh), METRIC_COLUMNS)
        with open(path, "a", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})

    def _validate(self, val_ds: TokenDataset, last: dict[str, float], step_bound: int) -> None:
        """Validate and checkpoint (the main process; the others wait). The step count is
        planned first, so that every checkpoint, the first included, carries it."""
        self._plan(step_bound)
        if self._validated_at == self.step:
            return
        self._validated_at = self.step
        if self.dist.is_main:  # the main process validates and writes checkpoints
            self._validate_and_save(val_ds, last)
        distributed.barrier()

    def _validate_and_save(self, val_ds: TokenDataset, last: dict[str, float]) -> None:
        val = self.validate(val_ds)
        self._write_metrics(
            {
                "step": self.step,
                "epoch": self.epoch,
                "split": "val",
                **{k: val[k] for k in VAL_METRICS},
                "active_units": int(val["active_units"]),
                "elapsed_s": self.elapsed,
            }
        )
        self.log(
            f"epoch {self.epoch} step {self.step}: val ELBO {val['elbo']:.3f} "
            f"(rec {val['rec']:.3f}, KL {val['kl']:.3f}) nats/sequence, IW-NLL {val['iw_nll']:.3f}, "
            f"active units {int(val['active_units'])}, MI {val['mutual_info']:.2f}, "
            f"reconstructed {val['recon_accuracy']:.3f}"
        )
        ckpts = self.run_dir / "checkpoints"
        metrics = {**last, **{f"val_{k}": val[k] for k in VAL_METRICS}}
        if val["elbo"] < self.best_val:
            self.best_val = val["elbo"]
            save_checkpoint(ckpts / "best", self.checkpoint_data(metrics, resumable=False))
        save_checkpoint(ckpts / "last", self.checkpoint_data(metrics, resumable=True))

    def fit(self) -> dict[str, float]:
        t = self.cfg.train
        train_ds, val_ds = self.prepared.train, self.prepared.val
        step_bound = self._step_bound()
        if self.plan is None and t.max_minutes <= 0:
            self._plan(step_bound)
        elif self.plan is not None and not self.plan.same_budget(t.epochs, t.max_steps, t.max_minutes):
            self.log(
                f"the budget differs from the one the run was planned for: the LR schedule keeps its "
                f"{self.plan.steps} steps (after them the LR stays at train.min_lr) and the new budget "
                "decides where the run stops"
            )
        bar = tqdm(
            total=self._expected_steps(step_bound),
            initial=self.step,
            disable=not (self.progress and self.dist.is_main),
            unit="step",
            dynamic_ncols=True,
        )
        window = {"loss": 0.0, "rec": 0.0, "kl": 0.0, "tokens": 0, "seqs": 0, "n": 0, "t": 0.0}
        last: dict[str, float] = {}
        stopped = False
        try:
            while self.epoch < t.epochs and not stopped and not self._out_of_budget():
                batches = self._epoch_batches(self.epoch)
                while self.batch_in_epoch < len(batches):
                    if self._out_of_budget():
                        stopped = True
                        break
                    t0 = step_clock()
                    beta = beta_at(
                        self.step,
                        t.kl_schedule,
                        t.kl_max,
                        t.kl_warmup_steps,
                        t.kl_cycle_steps,
                        t.kl_cycle_ratio,
                    )
                    lr = lr_at(
                        self.step,
                        self.plan.steps if self.plan else None,
                        t.lr,
                        t.min_lr,
                        t.warmup_steps,
                        t.lr_schedule,
                    )
                    r = self.train_step(train_ds.collate(batches[self.batch_in_epoch]), beta, lr)
                    dt = step_clock() - t0
                    if self.dist.enabled:  # one clock for all: budget decisions must agree
                        dt = distributed.all_reduce_(torch.tensor([dt], device=self.device), "max").item()
                    self.elapsed += dt
                    self.step += 1
                    self.batch_in_epoch += 1
                    if self.plan is None:
                        self._step_times.append(dt)
                        if self.step >= CALIBRATION_STEPS:
                            self._plan(step_bound)
                    bar.total = self._expected_steps(step_bound)
                    for k, v in (("loss", r.loss), ("rec", r.rec), ("kl", r.kl)):
                        window[k] += v
                    window["tokens"] += r.tokens
                    window["seqs"] += r.sequences
                    window["n"] += 1
                    window["t"] += dt
                    bar.update(1)
                    if self.dist.is_main and (self.step % t.log_every_steps == 0 or self.step == 1):
                        n = window["n"]
                        last = {
                            "loss": window["loss"] / n,
                            "rec": window["rec"] / n,
                            "kl": window["kl"] / n,
                        }
                        self._write_metrics(
                            {
                                "step": self.step,
                                "epoch": self.epoch,
                                "split": "train",
                                **last,
                                "beta": beta,
                                "lr": lr,
                                "sequences_per_s": window["seqs"] / window["t"],
                                "tokens_per_s": window["tokens"] / window["t"],
                                "elapsed_s": self.elapsed,
                            }
                        )
                        bar.set_postfix(
                            loss=f"{last['loss']:.3f}",
                            rec=f"{last['rec']:.2f}",
                            kl=f"{last['kl']:.2f}",
                            beta=f"{beta:.2f}",
                            mol_s=f"{window['seqs'] / window['t']:.0f}",
                        )
                        window = dict.fromkeys(window, 0.0)
                    mid_epoch = self.batch_in_epoch < len(batches)
                    if t.val_every_steps and self.step % t.val_every_steps == 0 and mid_epoch:
                        self._validate(val_ds, last, step_bound)
                if not stopped:
                    self.epoch += 1
                    self.batch_in_epoch = 0
                self._validate(val_ds, last, step_bound)
        except KeyboardInterrupt:
            bar.close()
            if self.dist.is_main:
                self.log("interrupted: saving checkpoints/last so that --resume can continue")
                save_checkpoint(
                    self.run_dir / "checkpoints" / "last", self.checkpoint_data(last, resumable=True)
                )
            raise
        bar.close()
        return {
            "step": self.step,
            "epoch": self.epoch,
            "best_val_elbo": self.best_val,
            "elapsed_s": self.elapsed,
            "schedule_steps": self.plan.steps if self.plan else self.step,
        }
