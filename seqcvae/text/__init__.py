"""Text metrics: distinct-n, self-BLEU (sacrebleu) and a style classifier (scikit-learn)."""
