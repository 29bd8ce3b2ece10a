"""The exit codes of every `fieldrelay` command (CONTRACT.md)."""

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
