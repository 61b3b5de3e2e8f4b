"""Recall in PostgreSQL: what the word index is given, and the statements that search by words and by
meaning, every one of them within one client's memories (``user_id = %(user)s``).

- **Words** as the local store sees them (:func:`proxy.memory.recall.lexical.query_terms` splits memories and
  questions alike into runs of letters and digits, diacritics folded as FTS5's ``remove_diacritics``
  does), then English stemming and stopwords by ``to_tsvector('english', ...)``. Splitting before
  PostgreSQL's parser means a path or a URL is its words, as in the local store, not one token.
- **Which words**: the question's rarest ones (:func:`proxy.memory.recall.lexical.pick_rarest`), counted in
the
  client's memories through the GIN index, each count stopping once the word is common.
- **Rank**: ``ts_rank`` of each word (normalised by the memory's length), weighted by the word's
  inverse document frequency in the client's memories as bm25 weighs it; ``ts_rank`` alone would weigh a
  word every memory has like the one word that picks the memory out.
- **Meaning**: pgvector's cosine distance to the question's vector, among the client's vectors of the
  current model. The HNSW index is asked first, but it filters by client only after it has found the
  nearest vectors of all clients (``hnsw.ef_search``, 40 by default, before pgvector 0.8's iterative
  scans): for a client with a small share of the table those can hold fewer of its memories than asked
  for, or none. Then the client's own vectors are compared in full (exact; a small client's are few).

Each word is its own ``plainto_tsquery`` parameter, so no client text is ever parsed as query syntax.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence

import numpy as np

from proxy.memory.recall.lexical import COMMON_TERM_FRACTION, query_terms, words_of
from proxy.memory.stores.postgres.schema import MEMORIES

__all__ = [
    "COLUMNS",
    "MEANING_BY_INDEX",
    "MEANING_EXACT",
    "SEARCH_BREADTH",
    "counts_statement",
    "indexed_text",
    "search_breadth",
    "search_terms",
    "term_weights",
    "vector_literal",
    "words_statement",
]

COLUMNS = "id, user_id, content, created_at, metadata"
"""A memory's columns, in :class:`~proxy.memory.stores.base.MemoryRecord`'s order."""

_QUERY = "plainto_tsquery('english', %(t{n})s)"

MEANING_BY_INDEX = f"""
SELECT {COLUMNS}, 1 - (embedding <=> %(vector)s::vector) AS similarity
FROM {MEMORIES}
WHERE user_id = %(user)s AND embedded_by = %(model)s
ORDER BY embedding <=> %(vector)s::vector
LIMIT %(limit)s
"""
"""The client's memories nearest in meaning to ``vector`` (cosine similarity), through the HNSW index:
at most ``limit``, and fewer when the index's candidates held fewer of the client's."""

SEARCH_BREADTH = "SELECT set_config('hnsw.ef_search', %(breadth)s, true)"
"""How many candidates the HNSW index keeps while it searches, for this transaction only: pgvector returns
at most that many rows (40 by default), so a recall asking for more would always fall back to the exact
comparison (at 10,000 memories, 40 ms where the index takes 7)."""


def search_breadth(limit: int) -> int:
    """The HNSW candidate list for a recall of ``limit``: twice it (this store asked for 20 with pgvector's
    default of 40), and never below that default."""
    return max(40, 2 * limit)


MEANING_EXACT = f"""
WITH mine AS MATERIALIZED (
    SELECT {COLUMNS}, embedding <=> %(vector)s::vector AS distance
    FROM {MEMORIES}
    WHERE user_id = %(user)s AND embedded_by = %(model)s
)
SELECT {COLUMNS}, 1 - distance AS similarity FROM mine ORDER BY distance LIMIT %(limit)s
"""
"""The same by comparing every one of the client's vectors (the CTE keeps the planner off the index)."""


def _fold(text: str) -> str:
    """``text`` without the accents of Latin, Greek and Cyrillic letters (é → e, ü → u), other scripts'
    marks kept: what FTS5's ``remove_diacritics 2`` does, and PostgreSQL's English config does not."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not "\u0300" <= c <= "\u036f"))


def indexed_text(content: str) -> str:
    """What the word index reads of a memory: its words (diacritics folded), one space apart."""
    return " ".join(words_of(_fold(content)))


def search_terms(query: str) -> list[str]:
    """The words of a question worth searching for, folded as :func:`indexed_text` folds memories."""
    return query_terms(_fold(query))


def counts_statement(terms: int, *, capped: bool) -> str:
    """The client's number of memories, then in how many of them each term is found, in one statement.

    ``capped`` stops each count at the common-word threshold (the SQL form of
    :func:`proxy.memory.recall.lexical.common_count`): past it the exact number changes nothing but the cost.
    """
    limit = f" LIMIT floor((SELECT size FROM space) * {COMMON_TERM_FRACTION!r}::float8)::bigint + 1"
    counts = [
        f"(SELECT count(*) FROM (SELECT FROM {MEMORIES} WHERE user_id = %(user)s "
        f"AND words @@ {_QUERY.format(n=n)}{limit if capped else ''}) AS hits)"
        for n in range(terms)
    ]
    return (
        f"WITH space AS (SELECT count(*) AS size FROM {MEMORIES} WHERE user_id = %(user)s) "
        f"SELECT size, {', '.join(counts)} FROM space"
    )


def words_statement(terms: int) -> str:
    """The client's memories with any of the terms, best first (parameters ``t<n>`` and ``w<n>``, a
    term and its weight, ``user`` and ``limit``)."""
    queries = [_QUERY.format(n=n) for n in range(terms)]
    score = " + ".join(f"ts_rank(words, {query}, 1) * %(w{n})s" for n, query in enumerate(queries))
    return f"""
SELECT {COLUMNS}, {score} AS score
FROM {MEMORIES}
WHERE user_id = %(user)s AND words @@ ({" || ".join(queries)})
ORDER BY score DESC, seq DESC
LIMIT %(limit)s
"""


def term_weights(counts: Sequence[int], size: int) -> list[float]:
    """bm25's inverse document frequency of terms found in ``counts`` of a client's ``size`` memories."""
    return [math.log(1 + (size - count + 0.5) / (count + 0.5)) for count in counts]


def vector_literal(vector: np.ndarray) -> str:
    """A vector as pgvector reads it (``[0.1,0.2,...]``); every float32 survives the round trip."""
    return "[" + ",".join(map(repr, vector.tolist())) + "]"
