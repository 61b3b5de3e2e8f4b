"""Memory: what the proxy recalls into a request and remembers from its answer.

Three wings. :mod:`proxy.memory.recall` finds memories for a question (words, meaning, ranking);
:mod:`proxy.memory.stores` keeps them (one seam, :mod:`proxy.memory.stores.base`, and one registry that
opens a store by name); and beside them the service that runs both around each request
(:mod:`.service`), with what it needs to do that well: which turns are the person's (:mod:`.turns`), which
requests are a client's side requests (:mod:`.side_requests`), secrets masked before storing
(:mod:`.secrets`), the write-back journal (:mod:`.journal`), the injected block kept byte-identical across a
conversation (:mod:`.conversations`, :mod:`.placement`), and export/import (:mod:`.transfer`).
"""
