"""Media relay: publishers in, viewers out, encoded packets forwarded without a codec."""
