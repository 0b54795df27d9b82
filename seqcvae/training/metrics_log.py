"""metrics.csv of a run: one row per logged training window and per validation, appended (also
after --resume, under the file's own header, with its own names of the columns), and the running
means of a training window."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from seqcvae.training.policy import StepResult

# Validation diagnostics logged to metrics.csv and stored (prefixed val_) in checkpoints.
# nelbo is the negative ELBO, rec + kl (lower is better).
VAL_METRICS = ("rec", "kl", "nelbo", "iw_nll", "active_units", "mutual_info", "recon_accuracy")

METRIC_COLUMNS = [
    "step",
    "epoch",
    "split",
    "loss",
    "rec",
    "kl",
    "beta",
    "lr",
    "nelbo",
    "iw_nll",
    "active_units",
    "mutual_info",
    "recon_accuracy",
    "sequences_per_s",
    "tokens_per_s",
    "elapsed_s",
    "validity",  # train.val_samples > 0: RDKit validity of that many prior samples
    "adversary_accuracy",  # train.adversary_weight > 0: the tag adversary's accuracy on z = mu
    "cycle_rec",  # train.cycle_weight > 0: reconstruction NLL from the back-translation's z
]
# Validation figures a validator may add (metrics.csv and checkpoints carry them when present).
OPTIONAL_VAL_METRICS = ("validity", "adversary_accuracy")
# Columns under their earlier names: a metrics.csv begun before the rename (resumed now) keeps its
# header, and the value goes under the old name.
EARLIER_NAMES = {"nelbo": "elbo"}


class MetricsLog:
    """Appends rows to run_dir/metrics.csv (floats to 6 significant digits); with `tensorboard`
    (a directory) each row's numbers also become TensorBoard scalars, train/<name> or val/<name>
    at the row's step."""

    def __init__(self, path: Path, tensorboard: Path | None = None):
        self.path = Path(path)
        self._board: Any = None
        if tensorboard is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                from seqcvae.errors import ConfigError

                raise ConfigError(
                    "train.tensorboard = true needs the tensorboard package: "
                    "pip install 'seqcvae[tensorboard]' (or set train.tensorboard = false)"
                ) from None
            self._board = SummaryWriter(log_dir=str(tensorboard))

    def close(self) -> None:
        if self._board is not None:
            self._board.close()

    def write(self, row: dict[str, Any]) -> None:
        if self._board is not None:
            step = int(row["step"])
            for name, value in row.items():
                if name not in ("step", "epoch", "split") and isinstance(value, (int, float)):
                    self._board.add_scalar(f"{row.get('split', 'train')}/{name}", float(value), step)
            self._board.flush()
        path = self.path
        new = not path.exists()
        columns = METRIC_COLUMNS
        if not new:  # appending after --resume: keep the file's own header (older runs had fewer)
            with open(path, newline="", encoding="utf-8") as fh:
                columns = next(csv.reader(fh), METRIC_COLUMNS)
        row = {EARLIER_NAMES.get(k, k) if k not in columns else k: v for k, v in row.items()}
        with open(path, "a", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


class TrainWindow:
    """Sums over the training steps since the last logged row."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loss = self.rec = self.kl = self.seconds = 0.0
        self.tokens = self.sequences = self.steps = 0
        self.cycle_rec: float | None = None

    def add(self, r: StepResult, seconds: float) -> None:
        self.loss += r.loss
        self.rec += r.rec
        self.kl += r.kl
        if r.cycle_rec is not None:
            self.cycle_rec = (self.cycle_rec or 0.0) + r.cycle_rec
        self.tokens += r.tokens
        self.sequences += r.sequences
        self.steps += 1
        self.seconds += seconds

    def means(self) -> dict[str, float]:
        n = self.steps
        means = {"loss": self.loss / n, "rec": self.rec / n, "kl": self.kl / n}
        if self.cycle_rec is not None:
            means["cycle_rec"] = self.cycle_rec / n
        return means

    @property
    def sequences_per_s(self) -> float:
        return self.sequences / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds
