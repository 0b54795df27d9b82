"""The generate recipe: `run` (load, sample, filter or search for hits, write, summarise), the
requests as `targets`, and each request's line of the `summary`."""

from seqcvae.recipes.generate.run import Generated, generate

__all__ = ["Generated", "generate"]
