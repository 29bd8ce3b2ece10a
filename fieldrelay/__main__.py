"""`python -m fieldrelay` runs the CLI."""

import sys

from fieldrelay.cli import main

sys.exit(main())
