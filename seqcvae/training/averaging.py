"""An exponential moving average of a model's weights (train.ema_decay; Polyak averaging).

The optimiser trains the model's own weights; after each step the average moves towards them.
Validation, the best/last checkpoints' model.safetensors and so everything that loads a run
(generate, evaluate, --init-from) use the average; a resumable checkpoint also keeps the raw
weights in its training state, so that --resume continues the optimiser's trajectory.

Early on the average would be dominated by the weights it started from, so the decay of update n
(counted from the first) is min(ema_decay, (1 + n) / (10 + n)), as TensorFlow's
ExponentialMovingAverage with num_updates.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class WeightAverage:
    """The running average of `model`'s floating-point state (parameters and float buffers);
    other entries are not averaged (the model's own are used)."""

    def __init__(
        self, model: nn.Module, decay: float, start: dict[str, torch.Tensor] | None = None, updates: int = 0
    ):
        """start: the average to continue from (a checkpoint's weights), else the model's own."""
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), not {decay}")
        self.decay = decay
        self.updates = updates
        own = model.state_dict()
        source = start if start is not None else own
        self.names = [k for k, v in own.items() if v.is_floating_point()]
        self.shadow = {k: source[k].detach().to(own[k].device, torch.float32).clone() for k in self.names}

    def current_decay(self) -> float:
        n = self.updates
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards the model's weights by 1 - decay."""
        own = model.state_dict()
        weight = 1.0 - self.current_decay()
        shadows = [self.shadow[k] for k in self.names]
        targets = [own[k].detach().float() for k in self.names]
        torch._foreach_lerp_(shadows, targets, weight)
        self.updates += 1

    def state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The model's state with the averaged entries in the model's own dtypes."""
        own = model.state_dict()
        return {k: (self.shadow[k].to(v.dtype) if k in self.shadow else v) for k, v in own.items()}

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Within the block, `model` holds the averaged weights; its own come back after it."""
        raw = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.state_dict(model))
        try:
            yield
        finally:
            model.load_state_dict(raw)
