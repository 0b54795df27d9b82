"""Sampling from a trained CVAE and the high-level Generator API."""
