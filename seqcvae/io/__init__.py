"""Files on disk: atomic writes and the user cache (no torch, no RDKit)."""
