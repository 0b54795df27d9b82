"""The style classifier of a text run: TF-IDF logistic regression per tag field, trained on the run's
own labelled training file (what evaluate, sweep and transfer judge style with)."""

from __future__ import annotations

from collections.abc import Sequence

from seqcvae.errors import SeqCVAEError
from seqcvae.generation.generator import Generator
from seqcvae.text.metrics import StyleClassifier


def train_style_classifier(gen: Generator, tags: Sequence[str] | None = None) -> StyleClassifier:
    """Trained on the run's training file for `tags` (default: every tag field); a DataError when
    the file cannot be read any more (a moved run)."""
    from seqcvae.data.prepare import prepare_table
    from seqcvae.data.splits import resolve_data_path

    names = list(tags) if tags is not None else [c.name for c in gen.conditions.categorical]
    train = prepare_table(resolve_data_path(gen.config.data.train_path), gen.config.data)
    return StyleClassifier().fit(train.sequences, {t: train.tag_columns[t] for t in names})


def fit_style_classifier(gen: Generator, tags: Sequence[str] | None = None) -> StyleClassifier | None:
    """train_style_classifier, or None when the training file cannot be read or there are no tags
    (the caller then judges nothing)."""
    names = list(tags) if tags is not None else [c.name for c in gen.conditions.categorical]
    if not names:
        return None
    try:
        return train_style_classifier(gen, names)
    except SeqCVAEError:
        return None
