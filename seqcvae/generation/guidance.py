"""Classifier-free guidance at decoding time, behind the decoders' start/step/reorder protocol.

Training hides each condition with probability train.condition_dropout, so one network models both
p(x | z, c) and p(x | z) (every condition unspecified). Guidance with weight w decodes from
uncond + w * (cond - uncond) at every step: w = 1 is the conditioned model itself, w > 1
extrapolates away from the unconditioned one, which sharpens how closely the samples follow their
conditions (at some cost in diversity). Both decoders see the same z and the same tokens so far;
they are stepped as one batch of 2B rows (conditioned rows first), which costs about one step of
2B instead of two of B.
"""

from __future__ import annotations

from typing import Any

import torch

from seqcvae.models.cvae import CVAE


class GuidedSteps:
    """A CVAE's decoder stepped one token at a time for rows (z, c), under guidance weight w.

    With w = 1 it runs exactly the decoder's own start/step/reorder (outputs bit-identical to
    stepping the decoder directly); otherwise it keeps a second, unconditioned copy of every row
    in the decoder's state and returns the guided logits.
    """

    def __init__(self, model: CVAE, z: torch.Tensor, c: torch.Tensor, guidance: float = 1.0):
        self.model = model
        self.guidance = guidance
        self.guided = guidance != 1.0
        self.rows = z.shape[0]  # rows of each half
        zc = torch.cat([z, c], dim=-1)
        if self.guided:
            free = model.unspecified_conditions(self.rows).to(device=c.device, dtype=c.dtype)
            zc = torch.cat([zc, torch.cat([z, free], dim=-1)])
        self.state: Any = model.decoder.start(zc)

    def step(self, token: torch.Tensor) -> torch.Tensor:
        """The next-token logits (rows, V) after `token` (rows,)."""
        embedded = self.model.embedding(token)
        if self.guided:
            embedded = torch.cat([embedded, embedded])
        logits, self.state = self.model.decoder.step(embedded, self.state)
        if not self.guided:
            return logits
        cond, free = logits[: self.rows], logits[self.rows :]
        return free + self.guidance * (cond - free)

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows `index` (in that order) of the state: finished rows dropped, beams followed."""
        if self.guided:
            index = torch.cat([index, index + self.rows])
        self.state = self.model.decoder.reorder(self.state, index)
        self.rows = len(index) // 2 if self.guided else len(index)
