"""The benchmark harness: the memory proxy against a direct call and against the LiteLLM proxy.

Why a package rather than tests: it starts real processes (a fake provider, a fake Supermemory, the
LiteLLM proxy and one memory proxy per configuration), drives the same load at each of them in one run,
interleaved so machine drift hits every target alike, and writes ``bench/results/`` (JSON, a Markdown
table, a PNG chart). ``python -m bench`` (or ``./RUN_TESTS.sh bench``) runs it; ``--quick`` is a smoke run.

Modules, in the order a run uses them: :mod:`bench.workload` (the memories and prompts),
:mod:`bench.fakes_app` (the fakes as uvicorn apps), :mod:`bench.targets` (starting and stopping every
process), :mod:`bench.load` (the async load generator), :mod:`bench.report` (statistics and outputs),
:mod:`bench.cli` (options and the run itself).
"""
