"""Encoders, decoders, the CVAE and its losses. Knows nothing of chemistry, training or the CLI."""

from seqcvae.models.cvae import CVAE, CVAEOutput

__all__ = ["CVAE", "CVAEOutput"]
