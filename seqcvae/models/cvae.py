"""The sequence CVAE: encoder q(z|x,c), decoder p(x|z,c), prior p(z) or learned p(z|c).

`forward` computes outputs only; training policy (annealing, free bits, word and condition dropout)
lives in the trainer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple, cast

import torch
from torch import nn

from seqcvae.config import ModelConfig
from seqcvae.errors import ConfigError
from seqcvae.models.conditioning import ConditionEmbedder
from seqcvae.models.decoders import RNNDecoder
from seqcvae.models.encoders import GRUEncoder
from seqcvae.models.losses import gaussian_kl, gaussian_log_prob
from seqcvae.models.mixture_prior import MixturePrior
from seqcvae.models.recurrent import dropout_layer
from seqcvae.models.transformer import TransformerDecoder, TransformerEncoder


@dataclass(kw_only=True)
class CVAEShape(ModelConfig):
    """The architecture (every ModelConfig field, defined once there) plus the sizes that come from
    the data; everything needed to rebuild the module (stored in checkpoints' meta.json)."""

    vocab_size: int
    num_continuous: int
    tag_sizes: list[int]
    # Transformer: longest sequence incl. <bos>/<eos>; data.max_length + 2 (checkpoints written
    # before issue 13 have max(data.max_length, sample.max_length) + 2).
    max_positions: int = 128
    pad_id: int = 0  # the tokenizer's padding id (embedding padding_idx, ignored by the loss)
    # Width of the condition adversary on z (train.adversary_weight > 0 with tags or continuous
    # conditions), 0 = none.
    tag_adversary: int = 0
    # Whether that adversary also predicts the continuous conditions (checkpoints written before
    # it could have tag heads only).
    value_adversary: bool = False

    @classmethod
    def from_config(
        cls,
        model: ModelConfig,
        *,
        vocab_size: int,
        num_continuous: int,
        tag_sizes: list[int],
        max_positions: int,
        pad_id: int,
    ) -> CVAEShape:
        return cls(
            **asdict(model),
            vocab_size=vocab_size,
            num_continuous=num_continuous,
            tag_sizes=list(tag_sizes),
            max_positions=max_positions,
            pad_id=pad_id,
        )

    def to_dict(self) -> dict:
        return asdict(self)


# Bounds of the posterior log-variance, wide enough for any useful posterior: exp(logvar) in the KL
# and the reparameterisation stays finite however large the encoder's output.
LOGVAR_RANGE = (-10.0, 10.0)
# The initial range of tied token embeddings (model.tie_embeddings): uniform in +-TIED_INIT.
TIED_INIT = 0.1


@dataclass
class CVAEOutput:
    nll: torch.Tensor  # (B, T) per-token NLL in nats of the targets tokens[:, 1:], 0 at padding
    mu: torch.Tensor  # (B, Z)
    logvar: torch.Tensor  # (B, Z)
    z: torch.Tensor  # (B, Z)
    prior_mu: torch.Tensor | None  # (B, Z) for the conditional prior, else None
    prior_logvar: torch.Tensor | None
    # The tag adversary's logits (own, probe), each (B, n_j) per tag (TagAdversary; training).
    adversary: AdversaryReadout | None = None
    # The back-translation pass (train.cycle_weight): the sequence decoded from the z of its
    # rewrite under other tags (TrainForward; training).
    cycle: CVAEOutput | None = None


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


class AdversaryReadout(NamedTuple):
    """What the condition adversary reads off z. `own_*` come from z.detach() through its weights
    (its loss trains only the adversary); `probe_*` from z through frozen copies of them (their
    loss trains only the encoder). Tag logits (B, n_j) per tag; continuous values (B, P) in
    standardised units, None without value heads."""

    own: list[torch.Tensor]
    probe: list[torch.Tensor]
    own_values: torch.Tensor | None = None
    probe_values: torch.Tensor | None = None


class TagAdversary(nn.Module):
    """Predicts the conditions from z: a shared hidden layer, one linear head per tag (John et al.
    2019) and, with `values` > 0, one linear head for the continuous conditions (standardised).

    `forward` reads z twice (AdversaryReadout): through its own weights from z.detach(), so that
    the adversary learns to recognise the conditions, and through frozen copies from z, so that the
    encoder is trained to leave the adversary uninformed (tags: the entropy of its prediction;
    values: its prediction pulled to the training mean). Maximising the adversary's error instead (a
    plain gradient reversal) lets the encoder write the opposite tag into z, which hides nothing."""

    def __init__(self, latent_dim: int, tag_sizes: list[int], hidden: int, values: int = 0):
        super().__init__()
        self.trunk = nn.Linear(latent_dim, hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in tag_sizes)
        self.values = nn.Linear(hidden, values) if values else None

    def _read(self, z: torch.Tensor, frozen: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        def lin(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
            w, b = (layer.weight.detach(), layer.bias.detach()) if frozen else (layer.weight, layer.bias)
            return nn.functional.linear(x, w, b)

        h = nn.functional.silu(lin(self.trunk, z))
        tags = [lin(cast(nn.Linear, head), h) for head in self.heads]
        return tags, None if self.values is None else lin(self.values, h)

    def forward(self, z: torch.Tensor) -> AdversaryReadout:
        own, own_values = self._read(z.detach(), frozen=False)
        probe, probe_values = self._read(z, frozen=True)
        return AdversaryReadout(own, probe, own_values, probe_values)


class CVAE(nn.Module):
    """shape.dropout applies (in training mode) to the token embeddings of encoder and decoder,
    to the GRU or LSTM decoder's outputs and between its layers (and the GRU encoder's), and to
    the Transformer's attention weights and residual branches; shape.weight_drop to the GRU or
    LSTM decoder's recurrent weights. With shape.locked_dropout the token embeddings' and the
    recurrent decoder's masks are drawn once per sequence (LockedDropout). shape.embedding_dropout
    drops whole word types' embeddings for a pass (`embed`), before that."""

    def __init__(self, shape: CVAEShape):
        super().__init__()
        self.shape = shape
        s = shape
        self.embedding = nn.Embedding(s.vocab_size, s.embedding_dim, padding_idx=s.pad_id)
        if s.tie_embeddings:
            # as output vectors the rows start at an output layer's scale (AWD-LSTM's U(-0.1, 0.1));
            # nn.Embedding's N(0, 1) rows give logits too large to learn from at the start
            with torch.no_grad():
                self.embedding.weight.uniform_(-TIED_INIT, TIED_INIT)
                self.embedding.weight[s.pad_id].zero_()
        self.embedding_dropout = dropout_layer(s.dropout, s.locked_dropout)
        self.condition = ConditionEmbedder(s.num_continuous, s.tag_sizes, s.condition_dim)
        self.encoder: nn.Module
        self.decoder: RNNDecoder | TransformerDecoder
        if s.encoder == "transformer":
            self.encoder = TransformerEncoder(
                embedding_dim=s.embedding_dim,
                d_model=s.encoder_hidden,
                layers=s.encoder_layers,
                heads=s.heads,
                condition_dim=s.condition_dim,
                latent_dim=s.latent_dim,
                max_positions=s.max_positions,
                dropout=s.dropout,
            )
        else:
            self.encoder = GRUEncoder(
                embedding_dim=s.embedding_dim,
                hidden=s.encoder_hidden,
                layers=s.encoder_layers,
                condition_dim=s.condition_dim,
                latent_dim=s.latent_dim,
                dropout=s.dropout,
            )
        if s.decoder == "transformer":
            self.decoder = TransformerDecoder(
                embedding_dim=s.embedding_dim,
                d_model=s.decoder_hidden,
                layers=s.decoder_layers,
                heads=s.heads,
                latent_dim=s.latent_dim,
                condition_dim=s.condition_dim,
                vocab_size=s.vocab_size,
                max_positions=s.max_positions,
                dropout=s.dropout,
                condition=s.decoder_condition,
                condition_tokens=s.condition_tokens,
                output_cutoffs=s.output_cutoffs,
                tied_embedding=self.embedding if s.tie_embeddings else None,
            )
        else:
            self.decoder = RNNDecoder(
                embedding_dim=s.embedding_dim,
                hidden=s.decoder_hidden,
                layers=s.decoder_layers,
                latent_dim=s.latent_dim,
                condition_dim=s.condition_dim,
                vocab_size=s.vocab_size,
                cell=s.decoder,
                dropout=s.dropout,
                weight_drop=s.weight_drop,
                locked_dropout=s.locked_dropout,
                output_cutoffs=s.output_cutoffs,
                tied_embedding=self.embedding if s.tie_embeddings else None,
            )
        self.prior: ConditionalPrior | MixturePrior | None = None
        if s.prior == "conditional":
            self.prior = ConditionalPrior(s.condition_dim, s.latent_dim)
        elif s.prior == "mixture":
            self.prior = MixturePrior(s.prior_components, s.latent_dim)
        self.tag_adversary: TagAdversary | None = None
        if s.tag_adversary and (s.tag_sizes or s.value_adversary):
            values = s.num_continuous if s.value_adversary else 0
            self.tag_adversary = TagAdversary(s.latent_dim, s.tag_sizes, s.tag_adversary, values)

    @property
    def max_length(self) -> int | None:
        """The longest sequence (tokens, without <bos> and <eos>) the decoder has positions for:
        max_positions - 2 for a Transformer decoder (data.max_length it was trained with), None
        for a GRU decoder, which has no limit."""
        return self.shape.max_positions - 2 if self.shape.decoder == "transformer" else None

    def check_max_length(self, max_length: int, name: str = "max_length") -> None:
        """ConfigError when sequences of up to `max_length` tokens need more positions than the
        decoder has; `name` is the setting that asked for them."""
        limit = self.max_length
        if limit is not None and max_length > limit:
            raise ConfigError(
                f"{name}={max_length} is longer than this model's limit of {limit} tokens: its "
                f"Transformer decoder has positions for {limit} tokens plus <bos> and <eos> (set by "
                f"data.max_length at training); ask for at most {limit}"
            )

    def set_matmul_dtype(self, dtype: torch.dtype | None) -> None:
        """Run the GRU and LSTM matrix products in `dtype` (bfloat16 is ~3x faster on CPUs with
        AVX512-BF16)."""
        from seqcvae.models.recurrent import RecurrentLayer

        for m in self.modules():
            if isinstance(m, RecurrentLayer):
                m.matmul_dtype = dtype

    def embed_conditions(
        self, values: torch.Tensor, present: torch.Tensor, tags: torch.Tensor
    ) -> torch.Tensor:
        return self.condition(values, present, tags)

    def unspecified_conditions(self, n: int) -> torch.Tensor:
        """c (n, C) with every condition unspecified (present 0, tag 0 "any"): the input that
        condition dropout trains on, under which the decoder models p(x | z) without conditions
        (classifier-free guidance contrasts it with the conditioned logits)."""
        ref = self.condition.bias
        values = ref.new_zeros(n, self.shape.num_continuous)
        tags = torch.zeros(n, len(self.shape.tag_sizes), dtype=torch.long, device=ref.device)
        return self.embed_conditions(values, values, tags)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids -> embeddings; in training with shape.embedding_dropout, each word type's row
        is zeroed with that probability (one draw per call, for every occurrence alike) and the
        kept rows scaled by 1 / (1 - p) (Merity et al. 2018's embedding dropout)."""
        p = self.shape.embedding_dropout
        if not (self.training and p > 0):
            return self.embedding(tokens)
        weight = self.embedding.weight
        keep = torch.empty(weight.shape[0], 1, device=weight.device).bernoulli_(1 - p).div_(1 - p)
        return nn.functional.embedding(tokens, weight * keep.to(weight.dtype), self.shape.pad_id)

    def encode(
        self, tokens: torch.Tensor, lengths: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, T+1) starting with <bos>; lengths (B,) incl. <eos> -> mu, logvar (B, Z);
        logvar within LOGVAR_RANGE."""
        mu, logvar = self.encoder(self.embedding_dropout(self.embed(tokens[:, 1:])), lengths, c)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def prior_params(self, c: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The Gaussian prior's mean and log-variance: (None, None) for N(0, I); a mixture prior
        has none (training, which needs them, refuses it)."""
        if isinstance(self.prior, MixturePrior):
            raise ConfigError(
                "a mixture prior (model.prior = mixture) is fitted to a trained model by "
                "`seqcvae fit-prior`, not trained; train with model.prior=standard"
            )
        return (None, None) if self.prior is None else self.prior(c)

    def prior_log_prob(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """log p(z | c) (B,) under the model's prior."""
        if isinstance(self.prior, MixturePrior):
            return self.prior.log_prob(z)
        return gaussian_log_prob(z, *self.prior_params(c))

    def kl_to_prior(
        self, mu: torch.Tensor, logvar: torch.Tensor, c: torch.Tensor, z: torch.Tensor
    ) -> torch.Tensor:
        """KL(q(z|x,c) || p(z|c)) (B,): exact for a Gaussian prior; for a mixture prior the
        one-draw estimate log q(z|x,c) - log p(z) at the posterior draws z (B, Z), or (S, B, Z)
        for the mean over S draws."""
        if not isinstance(self.prior, MixturePrior):
            return gaussian_kl(mu, logvar, *self.prior_params(c)).sum(-1)
        draws = z if z.dim() == 3 else z[None]
        log_q = gaussian_log_prob(draws, mu, logvar)
        log_p = self.prior.log_prob(draws.reshape(-1, draws.shape[-1])).view(draws.shape[:2])
        return (log_q - log_p).mean(0)

    @staticmethod
    def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z = mu + eps * sigma for a standard normal draw eps (B, Z); the one place z is formed."""
        return mu + eps.to(mu.dtype) * (0.5 * logvar).exp()

    def prior_from_noise(
        self, c: torch.Tensor, eps: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z ~ p(z | c) from a standard normal draw eps (B, Z): eps itself under the standard prior;
        a mixture prior also draws each row's component (from `generator`, a CPU generator)."""
        if isinstance(self.prior, MixturePrior):
            return self.prior.sample(eps, generator)
        mu, logvar = self.prior_params(c)
        if mu is None or logvar is None:
            return eps
        return self.reparameterise(mu, logvar, eps)

    def sample_prior(self, c: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p(z | c), (B, Z)."""
        eps = torch.randn(c.shape[0], self.shape.latent_dim, generator=generator, device=c.device)
        return self.prior_from_noise(c, eps, generator if c.device.type == "cpu" else None)

    def _decoder_states(self, decoder_inputs: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: decoder_inputs (B, T) token ids -> the decoder's states (B, T, H)."""
        embedded = self.embedding_dropout(self.embed(decoder_inputs))
        return self.decoder.features(embedded, torch.cat([z, c], dim=-1))

    def decode(self, decoder_inputs: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: decoder_inputs (B, T) token ids -> logits (B, T, V)."""
        return self.decoder.out.logits(self._decoder_states(decoder_inputs, z, c))

    def decode_nll(
        self, decoder_inputs: torch.Tensor, z: torch.Tensor, c: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: decoder_inputs (B, T) token ids -> NLL in nats (B, T) of targets (B, T),
        0 where they are padding; the adaptive softmax computes only what the targets need."""
        states = self._decoder_states(decoder_inputs, z, c)
        return self.decoder.out.token_nll(states, targets, self.shape.pad_id)

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        c: torch.Tensor,
        decoder_inputs: torch.Tensor | None = None,
        sample_z: bool = True,
        noise: torch.Tensor | None = None,
        encoder_tokens: torch.Tensor | None = None,
        encoder_lengths: torch.Tensor | None = None,
    ) -> CVAEOutput:
        """tokens (B, T+1): <bos> x <eos> pad; c (B, C) from embed_conditions.

        decoder_inputs defaults to tokens[:, :-1] (the trainer passes a word-dropped copy);
        noise (B, Z) is the reparameterisation's standard normal draw (default: drawn here);
        encoder_tokens / encoder_lengths: another spelling of each sequence for the encoder to read
        (randomised SMILES), the targets stay `tokens`.
        """
        if encoder_tokens is None or encoder_lengths is None:
            encoder_tokens, encoder_lengths = tokens, lengths
        mu, logvar = self.encode(encoder_tokens, encoder_lengths, c)
        if sample_z:
            z = self.reparameterise(mu, logvar, torch.randn_like(mu) if noise is None else noise)
        else:
            z = mu
        inputs = tokens[:, :-1] if decoder_inputs is None else decoder_inputs
        nll = self.decode_nll(inputs, z, c, tokens[:, 1:])
        prior_mu, prior_logvar = self.prior_params(c)
        return CVAEOutput(nll, mu, logvar, z, prior_mu, prior_logvar)
