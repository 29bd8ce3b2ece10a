"""Evidence: segment files, the hash-chained ledger, verification and export."""
