"""High-level generation: load a checkpoint, generate under conditions, get checked records back."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Generator as Stream
from multiprocessing.pool import Pool
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from seqcvae.config import RunConfig
from seqcvae.data.conditions import ConditionSpace, EncodedConditions
from seqcvae.errors import CheckpointError, ConfigError, SeqCVAEError
from seqcvae.generation.condition_sources import infer_condition_sources, measured_properties, property_label
from seqcvae.generation.grammar import SmilesSyntax
from seqcvae.generation.keep import SourceBonus
from seqcvae.generation.records import Record
from seqcvae.generation.reference import read_reference, run_reference
from seqcvae.generation.sampling import SamplingSettings, decode_tokens
from seqcvae.generation.transfer_settings import DEFAULT_KEEP_MODE, check_keep_mode
from seqcvae.models.checkpoint import CheckpointData, load_checkpoint
from seqcvae.models.cvae import CVAE, CVAEShape
from seqcvae.parallel import overlapped, submit_chunks, worker_pool
from seqcvae.tokenizers import Tokenizer, load_tokenizer
from seqcvae.tokenizers.smiles import SmilesTokenizer

if TYPE_CHECKING:
    from seqcvae.chem.properties import Analysis

CHECK_CHUNK = 250  # SMILES per task of a checking worker (a batch of 1000 is 4 tasks)


def latent_normals(gen: torch.Generator, n: int, dim: int) -> torch.Tensor:
    """n rows of dim standard normals from gen, drawn row by row: row i is the i-th block of
    gen's stream whatever n is (one randn(n, dim) call is not: torch transforms the uniforms
    in blocks of 16 and redraws a partial last block). For dim a multiple of 16 (the default 64)
    the rows equal those of one randn(n, dim) call, the z that b4cbcff drew."""
    if n == 0:
        return torch.empty(0, dim)
    return torch.stack([torch.randn(dim, generator=gen) for _ in range(n)])


class Generator:
    """A trained model ready to generate. Build with `Generator.load(run_or_checkpoint_dir)`."""

    def __init__(
        self,
        model: CVAE,
        tokenizer: Tokenizer,
        conditions: ConditionSpace,
        config: RunConfig,
        run_dir: Path | None = None,
        device: str = "cpu",
    ):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.conditions = conditions
        self.config = config
        self.run_dir = run_dir
        self.device = torch.device(device)
        self._reference: set[str] | None = None
        self.source: dict[str, Any] = {}  # which checkpoint this is (set by load)
        # Where each continuous condition's training values came from: "rdkit", "file", or None
        # (not recorded: checkpoints from before seqcvae recorded it; load infers what it can).
        self.condition_sources: dict[str, str | None] = {c.name: c.source for c in conditions.continuous}
        self.notes: list[str] = []  # how the conditions are scored, when that needs saying

    @classmethod
    def load(
        cls, path: str | Path, which: str = "best", device: str = "cpu", precision: str = "auto"
    ) -> Generator:
        """A checkpoint (run or checkpoint directory) on `device` (auto, cpu, cuda, cuda:N).

        precision "auto": a model trained with bfloat16 GRU products samples with them too where
        they are measured faster on this device (1.5x per sampling batch at 3 x 512 on an AVX512-BF16
        CPU); "fp32": always float32 products.
        """
        return cls.from_checkpoint(load_checkpoint(path, which=which), device, precision)

    @classmethod
    def from_checkpoint(cls, ckpt: CheckpointData, device: str = "cpu", precision: str = "auto") -> Generator:
        """The model of a checkpoint already read (`load_checkpoint`), as `load` builds it."""
        from seqcvae.devices import bf16_speedup, pick_device

        dev = str(pick_device(device))
        try:
            shape = CVAEShape(**ckpt.meta["model_shape"])
            model = CVAE(shape)
            model.load_state_dict(ckpt.weights)
            config = RunConfig.from_stored(ckpt.config)
        except (KeyError, TypeError, RuntimeError, SeqCVAEError) as exc:
            raise CheckpointError(
                f"checkpoint {str(ckpt.path)!r} does not match its model description: {exc}"
            ) from None
        run_dir = ckpt.path.parent.parent if ckpt.path.parent.name == "checkpoints" else None
        gen = cls(
            model,
            load_tokenizer(ckpt.tokenizer),
            ConditionSpace.from_dict(ckpt.conditions),
            config,
            run_dir,
            dev,
        )
        if precision == "auto" and ckpt.meta.get("precision") == "bf16" and bf16_speedup(gen.device) >= 1.5:
            model.set_matmul_dtype(torch.bfloat16)
        gen.source = {"checkpoint": str(Path(ckpt.path).resolve()), "step": ckpt.meta.get("step")}
        gen.notes.extend(infer_condition_sources(gen.condition_sources, gen.kind, config.data))
        return gen

    @property
    def kind(self) -> str:
        return self.config.data.kind

    def syntax(self, rows: int) -> SmilesSyntax:
        """The SMILES syntax mask for a batch of `rows` (sample.grammar); SMILES runs only."""
        if not isinstance(self.tokenizer, SmilesTokenizer):
            raise ConfigError(
                f"sample.grammar (--grammar) masks SMILES syntax; this is a {self.kind} run "
                f"({self.tokenizer.kind} tokens)"
            )
        return SmilesSyntax(self.tokenizer.vocab.tokens, rows, self.device)

    def default_settings(self, **overrides: Any) -> SamplingSettings:
        s = self.config.sample
        settings = SamplingSettings.of(s)
        for k, v in overrides.items():
            if not hasattr(settings, k):
                raise SeqCVAEError(f"unknown sampling setting {k!r}; known: {', '.join(vars(settings))}")
            if v is not None:
                setattr(settings, k, v)
        settings.validate()
        return settings

    def reference_set(self, path: str | Path | None = None, workers: int = 1) -> set[str] | None:
        """Canonical SMILES for novelty: of `path` (any SMILES file or table with a SMILES column,
        canonicalised here), or by default the run's training molecules saved with it (None if
        unavailable). The run's reference is loaded once; when it was canonicalised by another
        RDKit version it is re-canonicalised with this one (a warning says so)."""
        if path is not None:
            return read_reference(path, workers)
        if self._reference is None and self.run_dir is not None:
            self._reference = run_reference(self.run_dir, workers)
        return self._reference

    def _encode_requests(self, requests: Sequence[Mapping[str, Any]]) -> EncodedConditions:
        """One row of model-ready conditions per request."""
        enc = [self.conditions.encode_request(r, 1) for r in requests]
        return EncodedConditions(
            np.concatenate([e.values for e in enc]),
            np.concatenate([e.present for e in enc]),
            np.concatenate([e.tags for e in enc]),
        )

    @torch.no_grad()
    def condition_vectors(self, requests: Sequence[Mapping[str, Any]]) -> torch.Tensor:
        """The embedded conditions c (N, C) of one request per row, on the model's device."""
        enc = self._encode_requests(requests)
        arrays = (torch.from_numpy(a).to(self.device) for a in (enc.values, enc.present, enc.tags))
        return self.model.embed_conditions(*arrays)

    def sample_sequences(
        self,
        requests: Sequence[Mapping[str, Any]],
        seed: int = 0,
        batch_size: int = 1000,
        settings: SamplingSettings | None = None,
        z: torch.Tensor | None = None,
        bonus: SourceBonus | None = None,
    ) -> list[str]:
        """One sequence per request (name -> target value). Same seed, same output.

        Row i's sample depends only on (seed, i) and its request, never on batch_size or on how
        many rows are asked for: the first 100 of n=1000 are the samples of n=100.
        """
        batches = self.sample_batches(requests, seed, batch_size, settings, z, bonus)
        return [s for batch in batches for s in batch]

    @torch.no_grad()
    def sample_batches(
        self,
        requests: Sequence[Mapping[str, Any]],
        seed: int = 0,
        batch_size: int = 1000,
        settings: SamplingSettings | None = None,
        z: torch.Tensor | None = None,
        bonus: SourceBonus | None = None,
    ) -> Iterator[list[str]]:
        """sample_sequences batch by batch, each sampled when the consumer asks for it (the rows of
        a batch are those sample_sequences gives them). `bonus`: transfer's bonus on row i's source
        tokens (`keep.SourceBonus`)."""
        settings = settings or self.default_settings()
        self.model.check_max_length(settings.max_length)
        gen = torch.Generator().manual_seed(seed)
        for start in range(0, len(requests), batch_size):
            chunk = requests[start : start + batch_size]
            c = self.condition_vectors(chunk)
            if z is None:
                eps = latent_normals(gen, len(chunk), self.model.shape.latent_dim).to(self.device)
                zb = self.model.prior_from_noise(c, eps * settings.latent_temperature, gen)
            else:
                zb = z[start : start + batch_size].to(self.device)
            bb = None if bonus is None else bonus.rows(slice(start, start + batch_size)).to(self.device)
            if settings.strategy == "beam":
                from seqcvae.generation.beam import beam_search

                if settings.grammar:
                    raise ConfigError(
                        "--grammar (sample.grammar) masks sampling and greedy decoding, not --beam; "
                        "add --no-grammar"
                    )

                ids = beam_search(
                    self.model,
                    zb,
                    c,
                    settings.beam_size,
                    settings.max_length,
                    settings.length_penalty,
                    guidance=settings.guidance,
                    bonus=bb,
                ).tolist()
            else:
                rows = torch.arange(start, start + len(chunk), device=self.device)
                syntax = self.syntax(len(chunk)) if settings.grammar else None
                out = decode_tokens(
                    self.model, zb, c, settings, seed=seed, rows=rows, syntax=syntax, bonus=bb
                )
                ids = out.cpu().tolist()
            yield [self.tokenizer.decode(row) for row in ids]

    def generate(
        self,
        conditions: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        n: int = 100,
        seed: int = 0,
        batch_size: int = 1000,
        check: bool = True,
        workers: int = 1,
        pool: Pool | None = None,
        on_batch: Callable[[int], None] | None = None,
        **sampling: Any,
    ) -> list[Record]:
        """Generate n sequences for one request, or one per request when given a list;
        `on_batch(k)` is called as each batch of k records is done (a progress bar).

        For SMILES runs each record is checked with RDKit: canonical form, validity and the
        measured values of the model's continuous conditions; batch by batch, in `pool` (worker
        processes, see generate_batches) or, without one, in a pool of `workers` made for this call
        when workers > 1 and there is more than one batch, else in this process. The records do not
        depend on where they were checked.
        """
        if conditions is None or isinstance(conditions, Mapping):
            requests: list[Mapping[str, Any]] = [dict(conditions or {})] * n
        else:
            requests = list(conditions)
        if not requests:
            return []
        settings = self.default_settings(**sampling)
        own = workers if pool is None and check and len(requests) > batch_size else 0
        with worker_pool(own) as own_pool:
            records: list[Record] = []
            for batch in self.generate_batches(requests, seed, batch_size, settings, check, pool or own_pool):
                records.extend(batch)
                if on_batch is not None:
                    on_batch(len(batch))
            return records

    def generate_batches(
        self,
        requests: Sequence[Mapping[str, Any]],
        seed: int = 0,
        batch_size: int = 1000,
        settings: SamplingSettings | None = None,
        check: bool = True,
        pool: Pool | None = None,
        properties: Sequence[str] | None = None,
    ) -> Stream[list[Record], None, None]:
        """The records of generate(requests, ...) batch by batch, sampled as the consumer asks for
        them. SMILES records are checked with RDKit (on `properties`, default: every measured
        one): with a `pool` (seqcvae.parallel.process_pool, initialised with
        chem.properties.prepare_worker), batch k is checked in its processes while batch k + 1 is
        sampled here; without one, here after each batch."""
        self.conditions.check_names({k for r in requests for k in r})  # fail before any work
        sequences = self.sample_batches(requests, seed, batch_size, settings or self.default_settings())
        if not (check and self.kind == "smiles"):
            checked: Iterator[tuple[list[str], list[Analysis] | None]] = ((s, None) for s in sequences)
        else:
            from seqcvae.chem.properties import analyser

            analyse = analyser(self.measured_properties() if properties is None else properties)
            checked = overlapped(sequences, lambda seqs: submit_chunks(analyse, seqs, CHECK_CHUNK, pool))
        start = 0
        for seqs, analysed in checked:
            records = [Record(start + i, s, targets=dict(requests[start + i])) for i, s in enumerate(seqs)]
            for rec, (canon, props) in zip(records, analysed or ()):
                rec.canonical, rec.valid, rec.properties = canon, canon is not None, props
            start += len(seqs)
            yield records

    def measured_properties(self) -> list[str]:
        """The continuous conditions that generated molecules are measured on (with RDKit)."""
        return measured_properties(self.conditions)

    def property_label(self, name: str) -> str:
        """How `name` is scored (condition_sources.property_label): "LogP (RDKit)", "LogP (RDKit;
        trained on file values)", "pIC50 (cannot be measured)"."""
        return property_label(name, self.measured_properties(), self.condition_sources)

    def _check_smiles(self, records: list[Record], workers: int) -> None:
        from seqcvae.chem.properties import analyse_many

        names = self.measured_properties()
        for rec, (canon, props) in zip(records, analyse_many([r.sequence for r in records], names, workers)):
            rec.canonical, rec.valid, rec.properties = canon, canon is not None, props

    @torch.no_grad()
    def posterior(
        self, texts: Sequence[str], conditions: Sequence[Mapping[str, Any]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, c) of each input: means and log-variances (N, Z), on the CPU; conditions are
        the inputs' own (tags or properties; unspecified when not given). Sequences longer than the
        model's data.max_length are truncated (seqcvae.latent.seeds checks seeds first)."""
        from seqcvae.data.dataset import TokenDataset

        if not texts:
            raise SeqCVAEError("nothing to encode: the list of input sequences is empty")
        conds = list(conditions) if conditions is not None else [{}] * len(texts)
        ds, _ = TokenDataset.build(
            texts, self.tokenizer, self._encode_requests(conds), self.config.data.max_length
        )
        mus, logvars = [], []
        for start in range(0, len(ds), 1000):
            batch = ds.collate(list(range(start, min(start + 1000, len(ds))))).to(self.device)
            c = self.model.embed_conditions(batch.cond_values, batch.cond_present, batch.cond_tags)
            mu, logvar = self.model.encode(batch.tokens, batch.lengths, c)
            mus.append(mu.float().cpu())
            logvars.append(logvar.float().cpu())
        return torch.cat(mus), torch.cat(logvars)

    def encode(
        self, texts: Sequence[str], conditions: Sequence[Mapping[str, Any]] | None = None
    ) -> torch.Tensor:
        """Posterior means mu(x, c) (N, Z); conditions are the sources' own tags (or unspecified)."""
        return self.posterior(texts, conditions)[0]

    def decode_latents(
        self,
        z: torch.Tensor,
        requests: Sequence[Mapping[str, Any]],
        seed: int = 0,
        check: bool = True,
        workers: int = 1,
        bonus: SourceBonus | None = None,
        **sampling: Any,
    ) -> list[Record]:
        """Decode each row of z (N, Z) under its request; greedy unless `sampling` says otherwise.
        SMILES records are checked with RDKit. `bonus`: transfer's bonus on row i's source tokens."""
        if len(z) != len(requests):
            raise ValueError(f"{len(z)} latent vectors but {len(requests)} requests")
        if not len(requests):
            return []
        sampling.setdefault("strategy", "greedy")
        sampling.setdefault("grammar", False)  # what the model decodes, for the latent tools
        settings = self.default_settings(**sampling)
        seqs = self.sample_sequences(list(requests), seed, settings=settings, z=z, bonus=bonus)
        records = [Record(i, s, targets=dict(r)) for i, (s, r) in enumerate(zip(seqs, requests))]
        if check and self.kind == "smiles":
            self._check_smiles(records, workers)
        return records

    def transfer(
        self,
        texts: Sequence[str],
        target: Mapping[str, Any],
        source: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        seed: int = 0,
        keep: float = 0.0,
        search: Sequence[tuple[float, float]] | None = None,
        margin: float | None = None,
        keep_mode: str = DEFAULT_KEEP_MODE,
        **sampling: Any,
    ) -> list[Record]:
        """Style transfer: encode each input (under its source tags) and decode under `target`.

        Greedy decoding by default, so the output stays close to the input's content. `keep` > 0
        adds that much at every step to the logits of input tokens, so the output reuses the
        input's words (0: off; `keep.SourceBonus`): to the input's next tokens, so the output
        copies it in order, but none to the words the model finds carry the source style, so
        those are rewritten (`keep_mode` "style", the default); to the next tokens whatever they
        are ("order", `keep.OrderedBonus`); or to every input token not yet written ("bag",
        `keep.BagBonus`).
        `search`: (guidance, keep) rungs tried in turn per input until the model places the output
        in the target by `margin` nats over the source (`transfer_search`; then give neither keep
        nor guidance; None: the default ladder of `keep_mode`).
        """
        if keep < 0:
            raise SeqCVAEError(f"keep {keep:g}: expected a bonus >= 0 for the input's own tokens")
        check_keep_mode(keep_mode)
        if isinstance(source, Mapping):
            source = [dict(source)] * len(texts)
        own = list(source) if source is not None else [{}] * len(texts)
        self.conditions.encode_request(target, 1)
        if search is not None:
            from seqcvae.generation.transfer_search import DEFAULT_MARGIN, search_transfer

            if keep:
                raise SeqCVAEError("keep is set by each rung of the search; give it there, not as keep=")
            margin = DEFAULT_MARGIN if margin is None else margin
            return search_transfer(self, texts, target, own, search, margin, seed, keep_mode, **sampling)
        if margin is not None:
            raise SeqCVAEError("margin applies to the search: give search=[(guidance, keep), ...]")
        z = self.encode(texts, own)
        bonus = None
        if keep > 0:
            from seqcvae.generation.transfer_search import keep_bonus

            bonus = keep_bonus(self, texts, z, own, target, keep, keep_mode)
        return self.decode_latents(z, [dict(target)] * len(texts), seed=seed, bonus=bonus, **sampling)
