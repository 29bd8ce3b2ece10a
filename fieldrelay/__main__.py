"""`python -m fieldrelay` runs the CLI."""

import sys

from fieldrelay.program.cli import main

sys.exit(main())
