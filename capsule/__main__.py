"""`python -m capsule` runs the command line."""

import sys

from capsule.cli import main

sys.exit(main())
