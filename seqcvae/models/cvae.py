"""The sequence CVAE: encoder q(z|x,c), decoder p(x|z,c), prior p(z) or learned p(z|c).

`forward` computes outputs only; training policy (annealing, free bits, word and condition dropout)
lives in the trainer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from seqcvae.models.conditioning import ConditionEmbedder
from seqcvae.models.decoders import GRUDecoder
from seqcvae.models.encoders import GRUEncoder
from seqcvae.models.gru import dropout_layer
from seqcvae.models.transformer import TransformerDecoder, TransformerEncoder
from seqcvae.tokenizers.base import PAD


@dataclass
class CVAEShape:
    """Everything needed to rebuild the module (stored in checkpoints)."""

    vocab_size: int
    num_continuous: int
    tag_sizes: list[int]
    embedding_dim: int = 64
    encoder_hidden: int = 256
    encoder_layers: int = 1
    decoder_hidden: int = 512
    decoder_layers: int = 1
    latent_dim: int = 64
    condition_dim: int = 64
    dropout: float = 0.0
    prior: str = "standard"
    encoder: str = "gru"  # "gru" or "transformer" (then encoder_hidden = d_model)
    decoder: str = "gru"  # "gru" or "transformer" (then decoder_hidden = d_model)
    heads: int = 4
    max_positions: int = 128  # transformer: longest sequence incl. <bos>/<eos>
    decoder_condition: str = "prefix"  # transformer decoder: "prefix" or "memory" (cross-attention)
    condition_tokens: int = 1  # transformer decoder: vectors that (z, c) is projected to

    def to_dict(self) -> dict:
        return asdict(self)


# Bounds of the posterior log-variance, wide enough for any useful posterior: exp(logvar) in the KL
# and the reparameterisation stays finite however large the encoder's output.
LOGVAR_RANGE = (-10.0, 10.0)


@dataclass
class CVAEOutput:
    logits: torch.Tensor  # (B, T, V) next-token logits for targets tokens[:, 1:]
    mu: torch.Tensor  # (B, Z)
    logvar: torch.Tensor  # (B, Z)
    z: torch.Tensor  # (B, Z)
    prior_mu: torch.Tensor | None  # (B, Z) for the conditional prior, else None
    prior_logvar: torch.Tensor | None


class ConditionalPrior(nn.Module):
    """p(z | c) = N(mu(c), diag exp logvar(c))."""

    def __init__(self, condition_dim: int, latent_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(condition_dim, 2 * condition_dim),
            nn.SiLU(),
            nn.Linear(2 * condition_dim, 2 * latent_dim),
        )

    def forward(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(c).chunk(2, dim=-1)
        return mu, logvar.clamp(-8.0, 4.0)


class CVAE(nn.Module):
    """shape.dropout applies (in training mode) to the token embeddings of encoder and decoder,
    to the GRU decoder's outputs and between GRU layers, and to the Transformer's attention
    weights and residual branches."""

    def __init__(self, shape: CVAEShape):
        super().__init__()
        self.shape = shape
        s = shape
        self.embedding = nn.Embedding(s.vocab_size, s.embedding_dim, padding_idx=PAD)
        self.embedding_dropout = dropout_layer(s.dropout)
        self.condition = ConditionEmbedder(s.num_continuous, s.tag_sizes, s.condition_dim)
        self.encoder: nn.Module
        self.decoder: GRUDecoder | TransformerDecoder
        if s.encoder == "transformer":
            self.encoder = TransformerEncoder(
                s.embedding_dim,
                s.encoder_hidden,
                s.encoder_layers,
                s.heads,
                s.condition_dim,
                s.latent_dim,
                s.max_positions,
                s.dropout,
            )
        else:
            self.encoder = GRUEncoder(
                s.embedding_dim, s.encoder_hidden, s.encoder_layers, s.condition_dim, s.latent_dim, s.dropout
            )
        if s.decoder == "transformer":
            self.decoder = TransformerDecoder(
                s.embedding_dim,
                s.decoder_hidden,
                s.decoder_layers,
                s.heads,
                s.latent_dim,
                s.condition_dim,
                s.vocab_size,
                s.max_positions,
                s.dropout,
                s.decoder_condition,
                s.condition_tokens,
            )
        else:
            self.decoder = GRUDecoder(
                s.embedding_dim,
                s.decoder_hidden,
                s.decoder_layers,
                s.latent_dim,
                s.condition_dim,
                s.vocab_size,
                s.dropout,
            )
        self.prior = ConditionalPrior(s.condition_dim, s.latent_dim) if s.prior == "conditional" else None

    def set_matmul_dtype(self, dtype: torch.dtype | None) -> None:
        """Run the GRU matrix products in `dtype` (bfloat16 is ~3x faster on CPUs with AVX512-BF16)."""
        from seqcvae.models.gru import GRULayer

        for m in self.modules():
            if isinstance(m, GRULayer):
                m.matmul_dtype = dtype

    def embed_conditions(
        self, values: torch.Tensor, present: torch.Tensor, tags: torch.Tensor
    ) -> torch.Tensor:
        return self.condition(values, present, tags)

    def encode(
        self, tokens: torch.Tensor, lengths: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, T+1) starting with <bos>; lengths (B,) incl. <eos> -> mu, logvar (B, Z);
        logvar within LOGVAR_RANGE."""
        mu, logvar = self.encoder(self.embedding_dropout(self.embedding(tokens[:, 1:])), lengths, c)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def prior_params(self, c: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return (None, None) if self.prior is None else self.prior(c)

    def sample_prior(self, c: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p(z | c), (B, Z)."""
        eps = torch.randn(c.shape[0], self.shape.latent_dim, generator=generator, device=c.device)
        mu, logvar = self.prior_params(c)
        if mu is None or logvar is None:
            return eps
        return mu + eps * (0.5 * logvar).exp()

    def decode(self, decoder_inputs: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: decoder_inputs (B, T) token ids -> logits (B, T, V)."""
        embedded = self.embedding_dropout(self.embedding(decoder_inputs))
        return self.decoder(embedded, torch.cat([z, c], dim=-1))

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        c: torch.Tensor,
        decoder_inputs: torch.Tensor | None = None,
        sample_z: bool = True,
        noise: torch.Tensor | None = None,
    ) -> CVAEOutput:
        """tokens (B, T+1): <bos> x <eos> pad; c (B, C) from embed_conditions.

        decoder_inputs defaults to tokens[:, :-1] (the trainer passes a word-dropped copy);
        noise (B, Z) is the reparameterisation's standard normal draw (default: drawn here).
        """
        mu, logvar = self.encode(tokens, lengths, c)
        if sample_z:
            eps = torch.randn_like(mu) if noise is None else noise.to(mu.dtype)
            z = mu + eps * (0.5 * logvar).exp()
        else:
            z = mu
        inputs = tokens[:, :-1] if decoder_inputs is None else decoder_inputs
        logits = self.decode(inputs, z, c)
        prior_mu, prior_logvar = self.prior_params(c)
        return CVAEOutput(logits, mu, logvar, z, prior_mu, prior_logvar)
