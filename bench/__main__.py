"""``python -m bench``: run the benchmark (see :mod:`bench.cli` for the options); ``python -m bench memory``
runs the memory benchmark (:mod:`bench.memory`), ``python -m bench load`` the write-back load check
(:mod:`bench.writeback_load`)."""

import sys

if sys.argv[1:2] == ["memory"]:
    from bench.memory import main

    raise SystemExit(main(sys.argv[2:]))

if sys.argv[1:2] == ["load"]:
    from bench.writeback_load import main

    raise SystemExit(main(sys.argv[2:]))

from bench.cli import main

raise SystemExit(main())
