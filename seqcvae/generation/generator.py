"""High-level generation: load a checkpoint, generate under conditions, get checked records back."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqcvae.config import RunConfig
from seqcvae.data.conditions import ConditionSpace, EncodedConditions
from seqcvae.errors import CheckpointError, SeqCVAEError
from seqcvae.generation.sampling import SamplingSettings, decode_tokens
from seqcvae.models.checkpoint import load_checkpoint
from seqcvae.models.cvae import CVAE, CVAEShape
from seqcvae.tokenizers import Tokenizer, load_tokenizer


@dataclass
class Record:
    """One generated sequence with its RDKit check (SMILES runs) and the requested targets."""

    index: int
    sequence: str  # as generated
    canonical: str | None = None  # RDKit canonical SMILES, None if invalid
    valid: bool = False
    properties: dict[str, float] = field(default_factory=dict)  # RDKit-measured
    targets: dict[str, Any] = field(default_factory=dict)  # the requested conditions

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "sequence": self.sequence,
            "canonical": self.canonical,
            "valid": self.valid,
            "properties": self.properties,
            "targets": self.targets,
        }


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
        from seqcvae.devices import bf16_speedup, pick_device

        dev = str(pick_device(device))
        ckpt = load_checkpoint(path, which=which)
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
        gen._infer_condition_sources()
        return gen

    def _infer_condition_sources(self) -> None:
        """Old checkpoints don't record where their conditions' training values came from: read
        the training file's header if it is still there (as training decided), else say so."""
        unknown = [n for n, s in self.condition_sources.items() if s is None]
        if not unknown:
            return
        if self.kind == "text":
            self.condition_sources.update(dict.fromkeys(unknown, "file"))
            return
        from seqcvae.data.prepare import property_sources
        from seqcvae.data.splits import resolve_data_path

        train_path = self.config.data.train_path
        try:
            inferred = property_sources(resolve_data_path(train_path), self.config.data)
        except SeqCVAEError:  # the file is gone or unreadable
            inferred = {}
        known = [n for n in unknown if n in inferred]
        for name in known:
            self.condition_sources[name] = inferred[name]
        if known:
            self.notes.append(
                f"where the training values of {', '.join(known)} came from is not recorded in this "
                f"checkpoint (it predates that record); inferred from the header of its training "
                f"file {train_path!r}"
            )
        from seqcvae.chem.properties import PROPERTY_NAMES

        still = [n for n in unknown if n not in inferred]
        for name in still:  # a property seqcvae cannot compute must have been a file column
            if name not in PROPERTY_NAMES:
                self.condition_sources[name] = "file"
        still = [n for n in still if n in PROPERTY_NAMES]
        if still:
            self.notes.append(
                f"where the training values of {', '.join(still)} came from is not recorded in this "
                f"checkpoint (it predates that record) and its training file {train_path!r} is not "
                "available to infer it: they are measured with RDKit, but the model may have been "
                "trained on the file's own values"
            )

    @property
    def kind(self) -> str:
        return self.config.data.kind

    def default_settings(self, **overrides: Any) -> SamplingSettings:
        s = self.config.sample
        settings = SamplingSettings(s.strategy, s.temperature, s.top_k, s.top_p, s.max_length, s.beam_size)
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
    def sample_sequences(
        self,
        requests: Sequence[Mapping[str, Any]],
        seed: int = 0,
        batch_size: int = 1000,
        settings: SamplingSettings | None = None,
        z: torch.Tensor | None = None,
    ) -> list[str]:
        """One sequence per request (name -> target value). Same seed, same output.

        Row i's sample depends only on (seed, i) and its request, never on batch_size or on how
        many rows are asked for: the first 100 of n=1000 are the samples of n=100.
        """
        settings = settings or self.default_settings()
        self.model.check_max_length(settings.max_length)
        gen = torch.Generator().manual_seed(seed)
        out: list[str] = []
        for start in range(0, len(requests), batch_size):
            chunk = requests[start : start + batch_size]
            enc = self._encode_requests(chunk)
            c = self.model.embed_conditions(
                *(torch.from_numpy(a).to(self.device) for a in (enc.values, enc.present, enc.tags))
            )
            if z is None:
                eps = latent_normals(gen, len(chunk), self.model.shape.latent_dim).to(self.device)
                zb = self.model.prior_from_noise(c, eps)
            else:
                zb = z[start : start + batch_size].to(self.device)
            if settings.strategy == "beam":
                from seqcvae.generation.beam import beam_search

                ids = beam_search(
                    self.model, zb, c, settings.beam_size, settings.max_length, settings.length_penalty
                ).tolist()
            else:
                rows = torch.arange(start, start + len(chunk), device=self.device)
                ids = decode_tokens(self.model, zb, c, settings, seed=seed, rows=rows).cpu().tolist()
            out.extend(self.tokenizer.decode(row) for row in ids)
        return out

    def generate(
        self,
        conditions: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        n: int = 100,
        seed: int = 0,
        batch_size: int = 1000,
        check: bool = True,
        workers: int = 1,
        **sampling: Any,
    ) -> list[Record]:
        """Generate n sequences for one request, or one per request when given a list.

        For SMILES runs each record is checked with RDKit: canonical form, validity and the
        measured values of the model's continuous conditions.
        """
        if conditions is None or isinstance(conditions, Mapping):
            requests: list[Mapping[str, Any]] = [dict(conditions or {})] * n
        else:
            requests = list(conditions)
        if not requests:
            return []
        self.conditions.check_names({k for r in requests for k in r})  # fail before any work
        seqs = self.sample_sequences(requests, seed, batch_size, self.default_settings(**sampling))
        records = [Record(i, s, targets=dict(r)) for i, (s, r) in enumerate(zip(seqs, requests))]
        if check and self.kind == "smiles":
            self._check_smiles(records, workers)
        return records

    def measured_properties(self) -> list[str]:
        """The continuous conditions that generated molecules are measured on (with RDKit)."""
        from seqcvae.chem.properties import PROPERTY_NAMES

        return [c.name for c in self.conditions.continuous if c.name in PROPERTY_NAMES]

    def property_label(self, name: str) -> str:
        """How `name` is scored: "LogP (RDKit)" when the model was trained on RDKit's LogP,
        "LogP (RDKit; trained on file values)" when on the data file's LogP column, and
        "pIC50 (cannot be measured)" for a file column RDKit has no measure of."""
        if name not in self.measured_properties():
            return f"{name} (cannot be measured)"
        source = self.condition_sources.get(name)
        if source == "rdkit":
            return f"{name} (RDKit)"
        if source == "file":
            return f"{name} (RDKit; trained on file values)"
        return f"{name} (RDKit; training values' source not recorded)"

    def _check_smiles(self, records: list[Record], workers: int) -> None:
        from seqcvae.chem.properties import analyse_many

        names = self.measured_properties()
        for rec, (canon, props) in zip(records, analyse_many([r.sequence for r in records], names, workers)):
            rec.canonical, rec.valid, rec.properties = canon, canon is not None, props

    @torch.no_grad()
    def encode(
        self, texts: Sequence[str], conditions: Sequence[Mapping[str, Any]] | None = None
    ) -> torch.Tensor:
        """Posterior means mu(x, c) (N, Z); conditions are the sources' own tags (or unspecified)."""
        from seqcvae.data.dataset import TokenDataset

        if not texts:
            raise SeqCVAEError("nothing to encode: the list of input sequences is empty")
        conds = list(conditions) if conditions is not None else [{}] * len(texts)
        ds, _ = TokenDataset.build(
            texts, self.tokenizer, self._encode_requests(conds), self.config.data.max_length
        )
        batch = ds.collate(list(range(len(ds)))).to(self.device)
        c = self.model.embed_conditions(batch.cond_values, batch.cond_present, batch.cond_tags)
        mu, _ = self.model.encode(batch.tokens, batch.lengths, c)
        return mu

    def transfer(
        self,
        texts: Sequence[str],
        target: Mapping[str, Any],
        source: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        seed: int = 0,
        **sampling: Any,
    ) -> list[Record]:
        """Style transfer: encode each input (under its source tags) and decode under `target`.

        Greedy decoding by default, so the output stays close to the input's content.
        """
        if isinstance(source, Mapping):
            source = [dict(source)] * len(texts)
        self.conditions.encode_request(target, 1)
        z = self.encode(texts, source)
        sampling.setdefault("strategy", "greedy")
        seqs = self.sample_sequences(
            [dict(target)] * len(texts), seed=seed, settings=self.default_settings(**sampling), z=z
        )
        records = [Record(i, s, targets=dict(target)) for i, s in enumerate(seqs)]
        if self.kind == "smiles":
            self._check_smiles(records, 1)
        return records


REFERENCE_FILE = "reference_smiles.txt.gz"
REFERENCE_META = "reference_smiles.json"  # {"rdkit": version, "molecules": n}


def _canonical_set(smiles: Sequence[str], workers: int) -> set[str]:
    """RDKit canonical forms of the valid ones among `smiles`."""
    from seqcvae.chem.properties import analyse_many

    return {c for c, _ in analyse_many(smiles, [], workers) if c is not None}


def read_reference(path: str | Path, workers: int = 1) -> set[str]:
    """Canonical SMILES of a reference file: one SMILES a line (.smi, .txt) or a table (.csv,
    .tsv, .jsonl) with a SMILES column (or only one column), as `evaluate` reads them. Invalid
    SMILES are left out."""
    from seqcvae.data.tables import read_sequences

    return _canonical_set(read_sequences(path), workers)


def _read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()]


def run_reference(run_dir: Path, workers: int = 1) -> set[str] | None:
    """The run's canonical training SMILES (None when the run has none), in this RDKit's
    canonical form: re-canonicalised (once; the copy is kept in the run directory when it can be
    written) when reference_smiles.json names another RDKit version. Runs from before the version
    was recorded are used as they are, with a warning."""
    import json
    import warnings

    from seqcvae.chem.properties import rdkit_version
    from seqcvae.errors import SeqCVAEWarning

    path = run_dir / REFERENCE_FILE
    if not path.exists():
        return None
    current = rdkit_version()
    try:
        written = json.loads((run_dir / REFERENCE_META).read_text(encoding="utf-8"))["rdkit"]
    except (OSError, ValueError, KeyError, TypeError):
        warnings.warn(
            f"the run's novelty reference {str(path)!r} does not record which RDKit version "
            f"canonicalised it (the run predates that record); it is used as RDKit {current}'s "
            "canonical form, so novelty is inflated if the run was trained with another RDKit",
            SeqCVAEWarning,
            stacklevel=3,
        )
        return set(_read_lines(path))
    if written == current:
        return set(_read_lines(path))
    copy = run_dir / f"reference_smiles.rdkit-{current}.txt.gz"
    what = f"the run's novelty reference was canonicalised by RDKit {written}, this is RDKit {current}"
    if copy.exists():
        note = f"{what}: using its copy re-canonicalised with RDKit {current} ({copy})"
        warnings.warn(note, SeqCVAEWarning, stacklevel=3)
        return set(_read_lines(copy))
    ref = _canonical_set(_read_lines(path), workers)
    warnings.warn(
        f"{what}: re-canonicalised its {len(ref)} molecules so that novelty compares like with like",
        SeqCVAEWarning,
        stacklevel=3,
    )
    from seqcvae.io.atomic import atomic_open

    best_effort = contextlib.suppress(OSError)  # a read-only run directory: re-canonicalise next time
    with best_effort, atomic_open(copy, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as fh:
        fh.writelines(s + "\n" for s in sorted(ref))
    return ref
