"""``python -m bench``: run the benchmark (see :mod:`bench.cli` for the options); ``python -m bench memory``
runs the memory benchmark (:mod:`bench.memory`), ``python -m bench load`` the write-back load check
(:mod:`bench.writeback_load`), ``python -m bench workers`` (or ``load --workers``) throughput with 1 and 2
worker processes (:mod:`bench.workers`), ``python -m bench journal`` the write-back journal's cost on the
request path (:mod:`bench.journal`), ``python -m bench memory_tool`` what a memory tool step adds
(:mod:`bench.memory_tool`), ``python -m bench soak [--minutes N]`` a long steady run watching what grows
(:mod:`bench.soak`), ``python -m bench ranking_weights --locomo DIR`` learns recall's ranking weights
(:mod:`bench.ranking_weights`)."""

import sys

if sys.argv[1:2] == ["journal"]:
    from bench.journal import main

    raise SystemExit(main(sys.argv[2:]))

if sys.argv[1:2] == ["memory_tool"]:
    from bench.memory_tool import main

    raise SystemExit(main(sys.argv[2:]))

if sys.argv[1:2] == ["soak"]:
    from bench.soak import main

    raise SystemExit(main(sys.argv[2:]))

if sys.argv[1:2] == ["ranking_weights"]:
    from bench.ranking_weights import main

    raise SystemExit(main(sys.argv[2:]))

if sys.argv[1:2] == ["memory"]:
    from bench.memory import main

    raise SystemExit(main(sys.argv[2:]))

if sys.argv[1:2] == ["workers"] or (sys.argv[1:2] == ["load"] and "--workers" in sys.argv[2:3]):
    from bench.workers import main

    argv = sys.argv[2:]
    if sys.argv[1] == "load":  # ``load --workers [1,2]``: the counts, if given, follow the flag
        argv = argv[1:] if len(argv) < 2 or argv[1].startswith("-") else argv
    raise SystemExit(main(argv))

if sys.argv[1:2] == ["load"]:
    from bench.writeback_load import main

    raise SystemExit(main(sys.argv[2:]))

from bench.cli import main

raise SystemExit(main())
