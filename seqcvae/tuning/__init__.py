"""Tuning a trained model against a judge of its samples (RDKit): property consistency."""
