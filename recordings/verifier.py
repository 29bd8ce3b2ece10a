"""Until the CLI imports `recordings.verify`: the one name it still takes from here.

The verifier is the package `recordings.verify` now; delete this file once
fieldrelay's `export` command imports TextProgress from there.
"""

from recordings.verify.output import TextProgress

__all__ = ["TextProgress"]
