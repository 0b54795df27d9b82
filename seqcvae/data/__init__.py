"""Data: reading tables, condition encoding, tokenised datasets and batching."""
