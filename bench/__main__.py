"""``python -m bench``: run the benchmark (see :mod:`bench.cli` for the options)."""

from bench.cli import main

raise SystemExit(main())
