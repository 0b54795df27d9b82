"""What a training process sets up before its first step: threads, the model's shape from the
config and the run data, the matmul precision, the module DistributedDataParallel wraps, the
optimizer and the per-process RNG streams."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from seqcvae.config import RunConfig, TrainConfig
from seqcvae.data.dataset import Batch
from seqcvae.data.splits import RunData
from seqcvae.devices import bf16_speedup
from seqcvae.distributed import DistInfo
from seqcvae.models.cvae import CVAE, CVAEOutput, CVAEShape
from seqcvae.tokenizers.base import PAD


def set_threads(t: TrainConfig, dist: DistInfo, device: torch.device) -> None:
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    elif dist.enabled and device.type == "cpu":
        # Processes on one machine share its cores: without this each takes all of them.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.local_world_size))


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """None (float32) or torch.bfloat16 for the GRU matrix products."""
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if bf16_speedup(device) >= 1.5 else None


def uses_autocast(device: torch.device, matmul_dtype: torch.dtype | None) -> bool:
    """bfloat16 autocast on CUDA (all layers); on CPU only the GRU products use bf16."""
    return device.type == "cuda" and matmul_dtype == torch.bfloat16


def precision_label(model: CVAE, device: torch.device, matmul_dtype: torch.dtype | None) -> str:
    """ "bf16" when GRU or LSTM products actually run in bfloat16 (on CPU Transformer layers stay
    fp32; on CUDA autocast runs every layer in bf16)."""
    from seqcvae.models.recurrent import RecurrentLayer

    if uses_autocast(device, matmul_dtype):
        return "bf16"
    recurrent = any(isinstance(m, RecurrentLayer) for m in model.modules())
    return "bf16" if matmul_dtype == torch.bfloat16 and recurrent else "fp32"


# Hidden width of the tag adversary (train.adversary_weight > 0).
ADVERSARY_HIDDEN = 128


def model_shape(cfg: RunConfig, prepared: RunData) -> CVAEShape:
    """The model's shape for a new run. A Transformer's positions cover the longest training
    sequence, data.max_length tokens plus <bos> and <eos>; the sampling length plays no part.
    A condition adversary is part of it when train.adversary_weight > 0 and the run has conditions."""
    shape = CVAEShape.from_config(
        cfg.model,
        vocab_size=prepared.tokenizer.vocab_size,
        num_continuous=prepared.conditions.num_continuous,
        tag_sizes=prepared.conditions.tag_sizes,
        max_positions=cfg.data.max_length + 2,
        pad_id=PAD,
    )
    return with_adversary(shape, cfg.train)


def with_adversary(shape: CVAEShape, t: TrainConfig) -> CVAEShape:
    """`shape` with a condition adversary when t.adversary_weight > 0 and the model has tags or
    continuous conditions (keeping the width it already has; value heads when it has continuous
    ones), else without one; the adversary is a training aid, the rest of the model is the same
    either way."""
    wanted = t.adversary_weight > 0 and bool(shape.tag_sizes or shape.num_continuous)
    shape.tag_adversary = (shape.tag_adversary or ADVERSARY_HIDDEN) if wanted else 0
    shape.value_adversary = wanted and shape.num_continuous > 0
    return shape


def check_sample_length(cfg: RunConfig, model: CVAE) -> None:
    """A run whose own sampling settings could not be used is refused before it trains."""
    model.check_max_length(cfg.sample.max_length, "sample.max_length")


@dataclass
class CycleInput:
    """Back-translations of a batch for the cycle pass: encoder input (tokens (B, T) from <bos>,
    lengths (B,) incl. <eos>), the tags (B, T) they were decoded under, and the pass's latent
    noise (B, Z)."""

    tokens: torch.Tensor
    lengths: torch.Tensor
    tags: torch.Tensor
    noise: torch.Tensor

    def to(self, device: torch.device) -> CycleInput:
        return CycleInput(*(x.to(device) for x in (self.tokens, self.lengths, self.tags, self.noise)))


class TrainForward(torch.nn.Module):
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
        encoder_view: tuple[torch.Tensor, torch.Tensor] | None = None,
        cycle: CycleInput | None = None,
    ) -> Any:
        c = self.model.embed_conditions(b.cond_values, present, tags)
        enc_tokens, enc_lengths = encoder_view if encoder_view is not None else (None, None)
        out = self.model(
            b.tokens,
            b.lengths,
            c,
            decoder_inputs=inputs,
            noise=noise,
            encoder_tokens=enc_tokens,
            encoder_lengths=enc_lengths,
        )
        if self.model.tag_adversary is not None:
            out.adversary = self.model.tag_adversary(out.z)
        if cycle is not None:
            out.cycle = self._cycle(b, inputs, cycle)
        return out

    def _cycle(self, b: Batch, inputs: torch.Tensor, cycle: CycleInput) -> CVAEOutput:
        """The back-translation pass: the rewrites encoded under the tags they were decoded
        under, the original sequences decoded (teacher-forced `inputs`) under their own."""
        m = self.model
        own = m.embed_conditions(b.cond_values, b.cond_present, b.cond_tags)
        other = m.embed_conditions(b.cond_values, b.cond_present, cycle.tags)
        mu, logvar = m.encode(cycle.tokens, cycle.lengths, other)
        z = m.reparameterise(mu, logvar, cycle.noise)
        prior_mu, prior_logvar = m.prior_params(own)
        nll = m.decode_nll(inputs, z, own, b.tokens[:, 1:])
        return CVAEOutput(nll, mu, logvar, z, prior_mu, prior_logvar)


def forward_module(model: CVAE, dist: DistInfo, device: torch.device) -> torch.nn.Module:
    """The module a training step calls: TrainForward, wrapped in DistributedDataParallel when
    distributed."""
    module: torch.nn.Module = TrainForward(model)
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        module = DistributedDataParallel(module, device_ids=ids)
    return module


def optimizer(model: CVAE, t: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, by torch's fused kernel where the parameters' device has one (CPU and CUDA): one
    pass over each parameter instead of ~8 (on the CPU 3.8x faster than the per-operation
    default, ~8% of a PTB step; BENCHMARKS.md, issue 16, session 21)."""
    return adam(model.parameters(), decoupled=True, lr=t.lr, weight_decay=t.weight_decay)


def adam(
    params: Iterable[torch.nn.Parameter], decoupled: bool, lr: float, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """torch.optim.AdamW (decoupled weight decay) or Adam, fused where every parameter's device
    has the fused kernel."""
    params = list(params)
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") for p in params)
    return kind(params, lr=lr, weight_decay=weight_decay, fused=True if fused else None)


def reseed_per_rank(seed: int, dist: DistInfo, step: int) -> None:
    """Distributed: a different global RNG stream per process (nn.Dropout masks), fixed by
    (seed, rank, step); the masks and noise the trainer draws itself stay shared."""
    if dist.enabled:
        torch.manual_seed(hash((seed, dist.rank, step)) & 0x7FFF_FFFF)
