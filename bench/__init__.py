"""Benchmarks, each printing its figures: run one from the repository root as
`python -m bench.NAME` (`--smoke` checks that it runs, `--json` for scripts)."""
