"""The settings of property-consistency tuning (no torch: the CLI's parser reads the defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from seqcvae.errors import ConfigError

# The `seqcvae tune` option of each setting, for messages that name what the user typed.
FLAGS = {
    "steps": "--steps",
    "max_minutes": "--minutes",
    "conditions_per_step": "--conditions",
    "samples_per_condition": "--samples",
    "lr": "--lr",
    "kl_weight": "--kl-weight",
    "unconditional_fraction": "--unconditional",
    "anchor_weight": "--anchor",
    "decoder_only": "--decoder-only",
    "unconditional_kl_weight": "--unconditional-kl",
    "peak_nats": "--peak-nats",
    "peak_weight": "--peak-weight",
    "even_fraction": "--even-targets",
}


@dataclass
class TuneSettings:
    steps: int = 1000
    max_minutes: float = 0.0  # 0: no time limit
    conditions_per_step: int = 64
    samples_per_condition: int = 4  # the leave-one-out baseline needs >= 2
    lr: float = 1e-4  # 3e-5 improved at a third of the pace (BENCHMARKS.md)
    kl_weight: float = 0.05  # per nat of log p(x)/p_ref(x), in reward units (training stds)
    invalid_reward: float = -3.0
    unconditional_fraction: float = 0.1  # targets with every property unspecified
    # The KL penalty of those unconditional samples (None: kl_weight): rewarded for validity
    # alone, they drift from the starting model's distribution of molecules unless held.
    unconditional_kl_weight: float | None = None
    property_probability: float = 0.5  # each property given with this probability (>= 1 given)
    # Likelihood anchor: anchor_weight * the decoder's NLL (nats) of anchor_batch real molecules
    # per step, each decoded from z ~ q(z | x, c) under its own properties (some hidden), so that
    # the decoder keeps reconstructing what the encoder writes; 0 = off.
    anchor_weight: float = 0.0
    anchor_batch: int = 64
    # Train the decoder alone: the condition embedder, which also feeds q(z | x, c), stays as it
    # was, so the encoder writes the same z for a molecule as before tuning.
    decoder_only: bool = False
    # Peak penalty: a sample whose sequence the model gives more than exp(-peak_nats) pays
    # peak_weight per nat above that, so that no molecule takes enough mass to repeat when
    # thousands are drawn for one target (tuning otherwise concentrates p(x | c) on its best
    # hits: uniqueness falls). peak_nats 0 = off. p = exp(-12) ~ 6e-6: a molecule drawn ~0.06
    # times in 10,000 samples.
    peak_nats: float = 0.0
    peak_weight: float = 0.1
    # Share of the targets drawn evenly over one property's range (a property at random, a value
    # uniform between the targets' 1st and 99th percentiles of it, and the target row nearest to
    # that value, that property given) instead of at the molecules' own density: the tails that
    # chemists ask for (high TPSA, hard-to-make SAS) come up as often as the middle. 0 = off.
    even_fraction: float = 0.0
    max_length: int = 100
    grad_clip: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        checks = [
            ("steps", self.steps >= 1, "an integer >= 1"),
            (
                "max_minutes",
                math.isfinite(self.max_minutes) and self.max_minutes >= 0,
                "a finite number >= 0",
            ),
            ("conditions_per_step", self.conditions_per_step >= 1, "an integer >= 1"),
            ("samples_per_condition", self.samples_per_condition >= 2, "an integer >= 2"),
            ("lr", math.isfinite(self.lr) and self.lr > 0, "a finite number > 0"),
            ("kl_weight", math.isfinite(self.kl_weight) and self.kl_weight >= 0, "a finite number >= 0"),
            (
                "unconditional_kl_weight",
                self.unconditional_kl_weight is None
                or (math.isfinite(self.unconditional_kl_weight) and self.unconditional_kl_weight >= 0),
                "a finite number >= 0",
            ),
            ("invalid_reward", math.isfinite(self.invalid_reward), "a finite number"),
            ("unconditional_fraction", 0 <= self.unconditional_fraction < 1, "in [0, 1)"),
            ("property_probability", 0 < self.property_probability <= 1, "in (0, 1]"),
            (
                "anchor_weight",
                math.isfinite(self.anchor_weight) and self.anchor_weight >= 0,
                "a finite number >= 0",
            ),
            ("anchor_batch", self.anchor_batch >= 1, "an integer >= 1"),
            ("peak_nats", math.isfinite(self.peak_nats) and self.peak_nats >= 0, "a finite number >= 0"),
            (
                "peak_weight",
                math.isfinite(self.peak_weight) and self.peak_weight >= 0,
                "a finite number >= 0",
            ),
            ("even_fraction", 0 <= self.even_fraction <= 1, "in [0, 1]"),
            ("max_length", self.max_length >= 1, "an integer >= 1"),
            ("grad_clip", self.grad_clip > 0, "a number > 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                flag = f" ({FLAGS[name]})" if name in FLAGS else ""
                raise ConfigError(
                    f"tuning setting {name}={getattr(self, name)!r}{flag} is invalid; expected {expected}"
                )
