"""`python -m captioning ...` is the `captioning` command (so `torchrun -m captioning ...` works)."""

import sys

from captioning.cli.main import main

sys.exit(main())
