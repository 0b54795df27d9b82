"""Diversity and style metrics for generated sentences.

BLEU comes from sacrebleu and the style classifier from scikit-learn (optional extra `text`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from seqcvae.errors import SeqCVAEError


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SeqCVAEError(f"text metrics need the package {module!r}: pip install 'seqcvae[text]'") from None


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams / total n-grams over whitespace tokens (Li et al. 2016)."""
    total = 0
    seen: set[tuple[str, ...]] = set()
    for t in texts:
        toks = t.split()
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def self_bleu(
    texts: Sequence[str], max_hypotheses: int = 200, max_references: int = 500, seed: int = 0
) -> float:
    """Mean sentence BLEU (0-100) of each sample against the others (Zhu et al. 2018, Texygen).

    Lower means more diverse. Sub-sampled for speed: up to max_hypotheses hypotheses, each
    against up to max_references other samples.
    """
    sacrebleu = _require("sacrebleu")
    texts = [t for t in texts if t.strip()]
    if len(texts) < 2:
        return float("nan")
    rng = random.Random(seed)
    idx = list(range(len(texts)))
    hyps = rng.sample(idx, min(max_hypotheses, len(idx)))
    bleu = sacrebleu.metrics.BLEU(effective_order=True)
    scores = []
    for i in hyps:
        others = [j for j in idx if j != i]
        refs = [texts[j] for j in rng.sample(others, min(max_references, len(others)))]
        scores.append(bleu.sentence_score(texts[i], refs).score)
    return sum(scores) / len(scores)


class StyleClassifier:
    """TF-IDF (word 1-2-grams + char 2-4-grams) logistic regression per tag field.

    Trained on labelled training sentences; judges whether generated text carries its tag.
    """

    def __init__(self) -> None:
        self.models: dict[str, Any] = {}

    def fit(self, texts: Sequence[str], tags: Mapping[str, Sequence[str]]) -> StyleClassifier:
        _require("sklearn")
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        for name, labels in tags.items():
            if len(set(labels)) < 2:
                continue  # nothing to tell apart: the field gets no accuracy
            features = make_union(
                TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=3, sublinear_tf=True),
            )
            model = make_pipeline(features, LogisticRegression(max_iter=2000, C=4.0))
            model.fit(list(texts), list(labels))
            self.models[name] = model
        return self

    def predict(self, texts: Sequence[str], field: str) -> list[str] | None:
        """The classifier's verdict for each text in tag field `field` (None: no model for it)."""
        if field not in self.models or not texts:
            return None if field not in self.models else []
        return [str(p) for p in self.models[field].predict(list(texts))]

    def accuracy(self, texts: Sequence[str], tags: Mapping[str, Sequence[str]]) -> dict[str, float]:
        out = {}
        for name, labels in tags.items():
            if name not in self.models or not texts:
                continue
            pred = self.models[name].predict(list(texts))
            out[name] = float(sum(p == y for p, y in zip(pred, labels)) / len(labels))
        return out
