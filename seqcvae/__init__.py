"""seqcvae: a sequence conditional VAE for property-conditioned SMILES and styled text.

Python entry points::

    from seqcvae import Generator
    gen = Generator.load("runs/smiles_default")          # run dir or checkpoint dir
    records = gen.generate({"LogP": 2.5, "MolWt": 300}, n=100, seed=0)
"""

from seqcvae.errors import SeqCVAEError

__version__ = "0.1.0"

__all__ = ["Generator", "SeqCVAEError", "__version__"]


def __getattr__(name: str) -> object:
    # Lazy: importing seqcvae must not import torch or RDKit until needed.
    if name == "Generator":
        from seqcvae.generation.generator import Generator

        return Generator
    raise AttributeError(name)
