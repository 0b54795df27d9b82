import sys

from seqcvae.cli.app import main

sys.exit(main())
