import sys

from seqcvae.cli import main

sys.exit(main())
