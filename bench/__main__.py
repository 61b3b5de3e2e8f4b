"""``python -m bench``: run the benchmark (see :mod:`bench.cli` for the options); ``python -m bench memory``
runs the memory benchmark (:mod:`bench.memory`)."""

import sys

if sys.argv[1:2] == ["memory"]:
    from bench.memory import main

    raise SystemExit(main(sys.argv[2:]))

from bench.cli import main

raise SystemExit(main())
