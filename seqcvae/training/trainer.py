"""The training loop: AdamW, clipping, LR and KL schedules, free bits, word and condition dropout,
validation negative ELBO each epoch (and every train.val_every_steps), metrics CSV, best/last checkpoints,
a moving average of the weights (train.ema_decay), resume, Ctrl-C safety.

Every schedule is a function of the step; a time budget is converted into a step count once
(training/budget.py). The parts: training/build.py sets a process up (model, precision, optimizer),
training/policy.py is the arithmetic of a step, training/resume.py the state in checkpoints,
training/metrics_log.py metrics.csv; this module runs the steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from seqcvae.config import RunConfig
from seqcvae.data.dataset import Batch, TokenDataset
from seqcvae.data.splits import RunData
from seqcvae.devices import pick_device
from seqcvae.errors import ConfigError
from seqcvae.models.checkpoint import CheckpointData, save_checkpoint
from seqcvae.models.cvae import CVAE, CVAEShape
from seqcvae.models.losses import gaussian_kl, mmd_to_standard_normal
from seqcvae.training import build, distributed, policy, resume
from seqcvae.training.augment import encoder_view
from seqcvae.training.averaging import WeightAverage
from seqcvae.training.budget import Budget, step_bound
from seqcvae.training.metrics_log import OPTIONAL_VAL_METRICS, VAL_METRICS, MetricsLog, TrainWindow
from seqcvae.training.policy import StepResult

# Validation diagnostics of the model on held-out data (injected, so training never imports evaluation).
Validator = Callable[[CVAE, TokenDataset], dict[str, float]]
# Greedy decoding of z (B, Z) under c (B, C) -> token ids (B, L) ending in <eos> (injected for
# back-translation, train.cycle_weight, so that training never imports generation).
Translator = Callable[[CVAE, torch.Tensor, torch.Tensor], torch.Tensor]

# Times each training step; tests replace it with a deterministic clock (tests/fakeclock.py).
step_clock: Callable[[], float] = time.perf_counter


def _f32(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.float()


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
        shape: CVAEShape | None = None,
        translate: Translator | None = None,
    ):
        """shape: the model's shape, by default from cfg and prepared (build.model_shape); a
        resume passes its checkpoint's, which may have been sized by an earlier rule.
        translate: the greedy decoder back-translation needs (train.cycle_weight > 0; the train
        recipe passes `seqcvae.recipes.train.greedy_translator`)."""
        self.cfg = cfg
        self._validator = validate
        if cfg.train.cycle_weight > 0 and translate is None:
            raise ValueError("train.cycle_weight > 0 needs a translate function (Trainer(translate=...))")
        self._translate = translate
        self.run_dir = Path(run_dir)
        self.prepared = prepared
        self.log = log
        self.progress = progress
        self.dist = dist_info or distributed.DistInfo()
        t = cfg.train
        self.device = pick_device(distributed.device_for(t.device, self.dist))
        build.set_threads(t, self.dist, self.device)
        torch.manual_seed(t.seed)  # identical initial weights in every process
        self.shape = shape or build.model_shape(cfg, prepared)
        if self.shape.prior == "mixture":
            raise ConfigError(
                "model.prior = mixture is fitted to a trained model by `seqcvae fit-prior`, not "
                "trained; train (or resume, or start from a checkpoint) with model.prior=standard"
            )
        self.model = CVAE(self.shape).to(self.device)
        build.check_sample_length(cfg, self.model)
        build.reseed_per_rank(t.seed, self.dist, 0)
        self.matmul_dtype = build.resolve_precision(t.precision, self.device)
        self.model.set_matmul_dtype(self.matmul_dtype)
        self.forward_module = build.forward_module(self.model, self.dist, self.device)
        self.optimizer = build.optimizer(self.model, t)
        self.average: WeightAverage | None = None  # train.ema_decay's average of the weights
        self.reset_average()
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.elapsed = 0.0
        self.init_from: dict[str, Any] | None = None  # the trained model this run started from
        self.best_val = math.inf  # the lowest validation negative ELBO (checkpoints/best)
        self.generator = torch.Generator().manual_seed(t.seed)
        self.budget = Budget(t, log)
        board = self.run_dir / "tensorboard" if t.tensorboard and self.dist.is_main else None
        self.metrics = MetricsLog(self.run_dir / "metrics.csv", board)
        self._validated_at = -1  # the step of the last validation (never twice at one step)

    @property
    def autocast(self) -> bool:
        """bfloat16 autocast on CUDA (all layers); on CPU only the GRU products use bf16."""
        return build.uses_autocast(self.device, self.matmul_dtype)

    @property
    def precision_label(self) -> str:
        return build.precision_label(self.model, self.device, self.matmul_dtype)

    # ----- state -----------------------------------------------------------------------------
    def reset_average(self, start: dict[str, torch.Tensor] | None = None, updates: int = 0) -> None:
        """Begin the weight average (train.ema_decay > 0) at `start`, else at the model's weights."""
        decay = self.cfg.train.ema_decay
        self.average = WeightAverage(self.model, decay, start, updates) if decay > 0 else None

    def served_weights(self) -> dict[str, torch.Tensor]:
        """The weights validation and checkpoints use: the average, else the trained ones."""
        if self.average is not None:
            return self.average.state_dict(self.model)
        return dict(self.model.state_dict())

    def restore(self, ckpt: CheckpointData) -> None:
        resume.restore(self, ckpt)

    def initialise(self, ckpt: CheckpointData) -> None:
        """Start from a trained model's weights (a new run: step 0, a fresh optimizer)."""
        resume.initialise(self, ckpt)

    def checkpoint_data(self, metrics: dict[str, float], resumable: bool) -> CheckpointData:
        return resume.checkpoint_data(self, metrics, resumable)

    # ----- one step --------------------------------------------------------------------------
    def train_step(self, b: Batch, beta: float, lr: float) -> StepResult:
        """One optimisation step on the global batch b (this process's share of it, when
        distributed: rows rank, rank + W, ...). Masks and latent noise are drawn for the whole
        batch from the trainer's generator, so every process draws the same ones."""
        t = self.cfg.train
        gen = self.generator
        present, tags = policy.condition_dropout(b.cond_present, b.cond_tags, t.condition_dropout, gen)
        inputs = policy.word_dropout(b.tokens[:, :-1], t.word_dropout, gen)
        noise = torch.randn(b.size, self.shape.latent_dim, generator=gen)
        # prior draws for the MMD term (only then: the generator's stream is otherwise unchanged)
        prior = torch.randn(b.size, self.shape.latent_dim, generator=gen) if t.mmd_weight > 0 else None
        p_random = t.randomize_smiles if self.prepared.kind == "smiles" else 0.0
        view = encoder_view(b, self.prepared.tokenizer, p_random, self.cfg.data.max_length, gen)
        rewrite: tuple[torch.Tensor, torch.Tensor] | None = None  # back-translation: tags, noise
        if t.cycle_weight > 0:
            rewrite = (
                policy.other_tags(b.cond_tags, self.shape.tag_sizes, gen),
                torch.randn(b.size, self.shape.latent_dim, generator=gen),
            )
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
            prior = None if prior is None else prior[share]
            view = None if view is None else (view[0][share], view[1][share])
            rewrite = None if rewrite is None else (rewrite[0][share], rewrite[1][share])
        b = b.to(self.device)
        present, tags, inputs, noise = (x.to(self.device) for x in (present, tags, inputs, noise))
        if view is not None:
            view = (view[0].to(self.device), view[1].to(self.device))
        cycle = None if rewrite is None else self._back_translate(b, *rewrite)
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.forward_module(b, present, tags, inputs, noise, view, cycle)
            rec = out.nll.float().sum(dim=1)
        kl_dim = gaussian_kl(out.mu.float(), out.logvar.float(), _f32(out.prior_mu), _f32(out.prior_logvar))
        loss = policy.step_loss(rec, kl_dim, beta, t.free_bits, world, n_tokens)
        cycle_rec: torch.Tensor | None = None
        if out.cycle is not None:
            c_out = out.cycle
            cycle_rec = c_out.nll.float().sum(dim=1)
            c_kl = gaussian_kl(
                c_out.mu.float(), c_out.logvar.float(), _f32(c_out.prior_mu), _f32(c_out.prior_logvar)
            )
            cycle_loss = policy.step_loss(cycle_rec, c_kl, beta, t.free_bits, world, n_tokens)
            loss = loss + t.cycle_weight * cycle_loss
        if prior is not None:
            mmd = mmd_to_standard_normal(out.z.float(), prior.to(self.device))
            loss = loss + t.mmd_weight * mmd * rec.shape[0] * (world / n_tokens)
        if out.adversary is not None and t.adversary_weight > 0:
            adv = policy.tag_adversary_loss(out.adversary.own, out.adversary.probe, b.cond_tags)
            if out.adversary.own_values is not None and out.adversary.probe_values is not None:
                adv = adv + policy.value_adversary_loss(
                    out.adversary.own_values, out.adversary.probe_values, b.cond_values, present
                )
            loss = loss + t.adversary_weight * adv * (world / n_tokens)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
        self.optimizer.step()
        if self.average is not None:
            self.average.update(self.model)
        cycle_sum = loss.new_zeros(()) if cycle_rec is None else cycle_rec.detach().sum()
        stats = torch.stack([loss.detach() / world, rec.detach().sum(), kl_dim.detach().sum(), cycle_sum])
        loss_v, rec_sum, kl_sum, cycle_v = distributed.all_reduce_(stats).tolist()
        return StepResult(
            loss_v,
            rec_sum / n_seqs,
            kl_sum / n_seqs,
            n_tokens,
            n_seqs,
            cycle_rec=None if cycle_rec is None else cycle_v / n_seqs,
        )

    def _back_translate(self, b: Batch, tags: torch.Tensor, noise: torch.Tensor) -> build.CycleInput:
        """Each sequence of b decoded greedily from its posterior mean (under its own conditions)
        under the other `tags`, in eval mode and without gradients: the cycle pass's input."""
        assert self._translate is not None
        tags, noise = tags.to(self.device), noise.to(self.device)
        model = self.model
        model.eval()
        with (
            torch.no_grad(),
            torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast),
        ):
            own = model.embed_conditions(b.cond_values, b.cond_present, b.cond_tags)
            mu, _ = model.encode(b.tokens, b.lengths, own)
            other = model.embed_conditions(b.cond_values, b.cond_present, tags)
            decoded = self._translate(model, mu, other)
        model.train()
        tokens, lengths = policy.back_translation_input(decoded, self.cfg.data.max_length)
        return build.CycleInput(tokens, lengths, tags, noise)

    def validate(self, ds: TokenDataset) -> dict[str, float]:
        """Validation diagnostics from the injected validator (the train recipe passes
        `seqcvae.recipes.train.diagnostics_validator`): a dict with at least VAL_METRICS. With
        train.ema_decay, of the averaged weights."""
        if self.average is None:
            return self._validator(self.model, ds)
        with self.average.applied(self.model):
            return self._validator(self.model, ds)

    # ----- loop ------------------------------------------------------------------------------
    def _epoch_batches(self, epoch: int) -> list[Any]:
        t = self.cfg.train
        batches = self.prepared.train.batches(t.batch_size, t.seed, epoch)
        if self.dist.enabled:  # every process needs a share of every batch
            batches = [b for b in batches if len(b) >= self.dist.world_size]
        return batches

    def _out_of_budget(self) -> bool:
        return self.budget.exhausted(self.step, self.elapsed)

    def _validate(self, val_ds: TokenDataset, last: dict[str, float], bound: int) -> None:
        """Validate and checkpoint (the main process; the others wait). The step count is
        planned first, so that every checkpoint, the first included, carries it."""
        self.budget.make_plan(self.step, self.elapsed, bound)
        if self._validated_at == self.step:
            return
        self._validated_at = self.step
        if self.dist.is_main:  # the main process validates and writes checkpoints
            self._validate_and_save(val_ds, last)
        distributed.barrier()

    def _validate_and_save(self, val_ds: TokenDataset, last: dict[str, float]) -> None:
        val = self.validate(val_ds)
        self.metrics.write(
            {
                "step": self.step,
                "epoch": self.epoch,
                "split": "val",
                **{k: val[k] for k in VAL_METRICS},
                **{k: val[k] for k in OPTIONAL_VAL_METRICS if k in val},
                "active_units": int(val["active_units"]),
                "elapsed_s": self.elapsed,
            }
        )
        self.log(
            f"epoch {self.epoch} step {self.step}: val -ELBO {val['nelbo']:.3f} "
            f"(rec {val['rec']:.3f}, KL {val['kl']:.3f}) nats/sequence, IW-NLL {val['iw_nll']:.3f}, "
            f"active units {int(val['active_units'])}, MI {val['mutual_info']:.2f}, "
            f"reconstructed {val['recon_accuracy']:.3f}"
            + (f", valid {val['validity']:.3f}" if "validity" in val else "")
            + (
                f", adversary reads the tags {val['adversary_accuracy']:.3f}"
                if "adversary_accuracy" in val
                else ""
            )
        )
        ckpts = self.run_dir / "checkpoints"
        kept = [*VAL_METRICS, *(k for k in OPTIONAL_VAL_METRICS if k in val)]
        metrics = {**last, **{f"val_{k}": val[k] for k in kept}}
        if val["nelbo"] < self.best_val:
            self.best_val = val["nelbo"]
            save_checkpoint(ckpts / "best", self.checkpoint_data(metrics, resumable=False))
        save_checkpoint(ckpts / "last", self.checkpoint_data(metrics, resumable=True))

    def _log_train(self, window: TrainWindow, beta: float, lr: float, bar: Any) -> dict[str, float]:
        """A metrics.csv row and the progress bar's figures for the steps of `window`."""
        last = window.means()
        self.metrics.write(
            {
                "step": self.step,
                "epoch": self.epoch,
                "split": "train",
                **last,
                "beta": beta,
                "lr": lr,
                "sequences_per_s": window.sequences_per_s,
                "tokens_per_s": window.tokens_per_s,
                "elapsed_s": self.elapsed,
            }
        )
        bar.set_postfix(
            loss=f"{last['loss']:.3f}",
            rec=f"{last['rec']:.2f}",
            kl=f"{last['kl']:.2f}",
            beta=f"{beta:.2f}",
            mol_s=f"{window.sequences_per_s:.0f}",
        )
        window.reset()
        return last

    def _timed_step(self, b: Batch) -> tuple[StepResult, float, float, float]:
        """Train on b at the current step; returns the result, beta, lr and the step's seconds
        (the longest over processes, so that budget decisions agree)."""
        t0 = step_clock()
        beta, lr = policy.beta_and_lr(self.cfg.train, self.step, self.budget.schedule_steps)
        r = self.train_step(b, beta, lr)
        dt = step_clock() - t0
        if self.dist.enabled:
            dt = distributed.all_reduce_(torch.tensor([dt], device=self.device), "max").item()
        return r, beta, lr, dt

    def fit(self) -> dict[str, float]:
        t = self.cfg.train
        train_ds, val_ds = self.prepared.train, self.prepared.val
        bound = step_bound(t, len(self._epoch_batches(0)))
        self.budget.start(self.step, self.elapsed, bound)
        bar = tqdm(
            total=self.budget.expected_steps(bound),
            initial=self.step,
            disable=not (self.progress and self.dist.is_main),
            unit="step",
            dynamic_ncols=True,
        )
        window = TrainWindow()
        last: dict[str, float] = {}
        stopped = False
        try:
            while self.epoch < t.epochs and not stopped and not self._out_of_budget():
                batches = self._epoch_batches(self.epoch)
                while self.batch_in_epoch < len(batches):
                    if self._out_of_budget():
                        stopped = True
                        break
                    r, beta, lr, dt = self._timed_step(train_ds.collate(batches[self.batch_in_epoch]))
                    self.elapsed += dt
                    self.step += 1
                    self.batch_in_epoch += 1
                    self.budget.record(dt, self.step, self.elapsed, bound)
                    bar.total = self.budget.expected_steps(bound)
                    window.add(r, dt)
                    bar.update(1)
                    if self.dist.is_main and (self.step % t.log_every_steps == 0 or self.step == 1):
                        last = self._log_train(window, beta, lr, bar)
                    mid_epoch = self.batch_in_epoch < len(batches)
                    if t.val_every_steps and self.step % t.val_every_steps == 0 and mid_epoch:
                        self._validate(val_ds, last, bound)
                if not stopped:
                    self.epoch += 1
                    self.batch_in_epoch = 0
                self._validate(val_ds, last, bound)
        except KeyboardInterrupt:
            bar.close()
            self.metrics.close()
            if self.dist.is_main:
                self.log("interrupted: saving checkpoints/last so that --resume can continue")
                save_checkpoint(
                    self.run_dir / "checkpoints" / "last", self.checkpoint_data(last, resumable=True)
                )
            raise
        bar.total = self.step  # where the budget really stopped the run
        bar.refresh()
        bar.close()
        self.metrics.close()
        return {
            "step": self.step,
            "epoch": self.epoch,
            "best_val_nelbo": self.best_val,
            "elapsed_s": self.elapsed,
            "schedule_steps": self.budget.plan.steps if self.budget.plan else self.step,
        }
