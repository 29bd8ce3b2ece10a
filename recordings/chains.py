"""The one list of a data dir's chains (session ledgers, node ledger, audit log, witness
ledger). It lives in the verifier's package so that every bundle's `verify.py` lists the very
same chains; a new chain (the materials chain) is one line in `recordings.verify.chains`."""

from recordings.verify.chains import ChainFile, all_chains, chain_file

__all__ = ["ChainFile", "all_chains", "chain_file"]
