"""Load generators and benchmarks (not run by the tests; see BENCHMARKS.md).

Each benchmark is a module run from the repository root, `python -m bench.NAME`, so that they
share `bench.common` and the media tools as plain imports. The tests use those tools too;
bench/ never imports tests/.
"""
