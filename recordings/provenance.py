"""Until the CLI imports `recordings.export`: the one name it still takes from here.

The export entry point lives in `recordings.export` and the C2PA signing in
`recordings.credentials`; delete this file once fieldrelay's `export` command imports
`export_with_playable` from `recordings.export`.
"""

from recordings.export import export_with_playable

__all__ = ["export_with_playable"]
