"""Command-line interface: `seqcvae train | generate | transfer | evaluate | sweep | info`.

The only package that reads argv. One module per command (`add_parser`, `run`: parse, call the
recipe, print), `common` for what they share, `app` for the parser and `main`. User errors
(SeqCVAEError) are printed as one line without a traceback, exit code 2.
"""

from seqcvae.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
