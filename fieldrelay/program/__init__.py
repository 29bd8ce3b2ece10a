"""The program on top of every layer: the `fieldrelay` command, the cluster supervisor, and the
process set-up (TLS, memory) of a node. Nothing below this package imports from it."""
