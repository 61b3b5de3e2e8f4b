"""Recall by words: which words of a question to search with (every store), and in SQLite FTS5 how a
namespace's memories are found and ranked.

One FTS5 index holds every namespace's memories (see :mod:`proxy.memory.stores.local.schema`); a query keeps
to one namespace with a filter on its ``space`` column. FTS5's own ``bm25()`` would take its statistics
(how many memories there are, how rare a word is, how long a memory is) from the whole index, so another
namespace's memories would change what a question recalls. :func:`ranked_by_words` therefore computes the
same bm25 formula as FTS5 (k1 1.2, b 0.75, the IDF floored at 1e-6) from the namespace's own figures: its
size and total length, kept by the store, and each word's matches within it.

- **Relevance**: porter stemming over unicode61, diacritics folded. The MATCH expression is built here
  from words only, each one quoted, so no client text is ever parsed as FTS5 syntax
  (``what's "x" AND (y`` is just the words ``x`` and ``y``).
- **Fast recall**: ranking costs a little for every memory a query matches, so a long question full of
  common words would rank thousands. Like Lucene's MoreLikeThis and CommonTermsQuery, the query keeps only
  its few rarest words, and words found in a large share of the namespace's memories only count when there
  is nothing rarer. :func:`pick_rarest` decides that from counts any store makes; the PostgreSQL store
  (:mod:`proxy.memory.stores.postgres.search`) counts in its own index.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Mapping, Sequence

__all__ = [
    "COMMON_TERM_FRACTION",
    "MAX_QUERY_TERMS",
    "MAX_RANKED_TERMS",
    "common_count",
    "idf",
    "match_expression",
    "pick_rarest",
    "query_terms",
    "ranked_by_words",
    "rarest_terms",
    "scoped_expression",
    "words_of",
]

MAX_QUERY_TERMS = 32
"""Distinct words of a query looked at, so a pasted essay cannot make recall slow."""

MAX_RANKED_TERMS = 6
"""Words of a query that are searched for and ranked by: its rarest ones."""

COMMON_TERM_FRACTION = 0.1
"""A word in more than this share of a client's memories says little (bm25 gives it a low weight) yet
matches many rows; it is dropped from a query that has rarer words."""

# Words: runs of letters and digits. The underscore is a separator, as it is for the unicode61 tokenizer.
_WORD = re.compile(r"[^\W_]+")

# Function words that say nothing about what to recall, plus the fragments contractions split into.
# Dropping them keeps recall fast (they would match nearly every memory) and keeps bm25 on the words
# that matter; a query made only of them recalls nothing.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can cannot could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other ought our ours ourselves out
    over own same shall she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which while
    who whom whose why will with would you your yours yourself yourselves
    s t d ll m re ve doesn didn isn aren wasn weren wouldn shouldn couldn
    please tell know remember recall
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def words_of(text: str) -> list[str]:
    """The words of ``text`` as the unicode61 tokenizer splits it: runs of letters and digits."""
    return _WORD.findall(text)


def query_terms(query: str) -> list[str]:
    """The distinct words of free text worth searching for (no stopwords), in order, at most 32.

    Only letters and digits survive, so ``AND``, ``NEAR``, ``*``, ``(``, ``:`` and ``"`` in the text
    can never become FTS5 syntax.
    """
    terms: list[str] = []
    for word in words_of(query.lower()):  # lower(), not casefold(): unicode61 keeps "ß"
        if word in _STOPWORDS or word in terms:
            continue
        terms.append(word)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression finding any of ``terms``: each one quoted, OR-ed.

    OR (not AND) so that a memory sharing only some words is still found, and bm25 ranks one that
    shares more of them higher. Quoting makes every term a literal, even ``OR`` or ``NEAR``.
    """
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def scoped_expression(scope: str | None, terms: Sequence[str]) -> str:
    """``terms`` (:func:`match_expression`) in the ``content`` column of the memories ``scope`` selects
    (None: every memory of the index, a namespace's own)."""
    if scope is None:
        return match_expression(terms)
    return f"{scope} AND content : ({match_expression(terms)})"


def _candidates_statement(table: str, terms: int) -> str:
    """The best memories the terms find (one scoped expression each, with its IDF), scored with each term
    counted once, as one JSON array of rowids in one row.

    Counted once, bm25 is the sum of the IDFs of the terms a memory holds times (k1 + 1) / (1 + K), K the
    memory's length normalisation: SQL ranks every match so that only the best come back. One row because
    sqlite3 gives up the GIL around every step of a statement, and in a busy proxy each step's return can
    wait a whole switch interval (5 ms) for the event loop's thread.
    """
    found = " UNION ALL ".join(
        f"SELECT :idf{n} AS idf, rowid FROM {table} WHERE {table} MATCH :match{n}" for n in range(terms)
    )
    return f"""
SELECT json_group_array(rowid) FROM (
    SELECT h.rowid AS rowid,
        sum(h.idf) / (1 + :k1 * (1 - :b + :b * m.tokens / :average)) AS score
    FROM ({found}) AS h CROSS JOIN memories AS m ON m.rowid = h.rowid
    GROUP BY h.rowid ORDER BY score DESC, h.rowid LIMIT :limit
)
"""


def _scores_statement(table: str, terms: int, rows: int | None) -> str:
    """The ``:limit`` best memories by Okapi bm25 as one JSON array of ``[rowid, score]``, best first (ties:
    the older memory first); only among ``rows`` given memories (``:row0``...), or all the terms find.

    Each term's expression (``:match<n>``) and IDF (``:idf<n>``) are the caller's, from the namespace's own
    figures; how often the term occurs in each memory is FTS5's ``highlight``, which marks each occurrence
    (stemmed: "runs" for "run") with one ``char(1)``: its length less the memory's own is the count. It
    reads and tokenizes the memory again (a few microseconds each), so it runs for all a query finds only
    when they are few, else for the best candidates. ``+rowid`` keeps the candidates a filter: offered to
    FTS5 as a constraint, each one would start a query of its own (3 ms for 50). LIMIT -1 (no limit) keeps
    SQLite from flattening a single term's query into the aggregate, where ``highlight`` cannot run. The
    scores are summed in SQL, so only the best cross into Python (json and a loop over 300 matches took as
    long as finding them).
    """
    only = f" AND +rowid IN ({', '.join(f':row{n}' for n in range(rows))})" if rows is not None else ""
    found = " UNION ALL ".join(
        f"SELECT :idf{n} AS idf, rowid, "
        f"max(length(highlight({table}, 1, char(1), '')) - length({table}.content), 1) AS frequency, "
        f"(SELECT tokens FROM memories AS m WHERE m.rowid = {table}.rowid) AS tokens "
        f"FROM {table} WHERE {table} MATCH :match{n}{only}"
        for n in range(terms)
    )
    score = "h.idf * h.frequency * (:k1 + 1) / (h.frequency + :k1 * (1 - :b + :b * h.tokens / :average))"
    return f"""
SELECT json_group_array(json_array(rowid, score)) FROM (
    SELECT h.rowid AS rowid, sum({score}) AS score FROM ({found} LIMIT -1) AS h
    GROUP BY h.rowid ORDER BY score DESC, h.rowid LIMIT :limit
)
"""


BM25_K1 = 1.2
BM25_B = 0.75

EXACT_HITS = 1000
"""Up to this many matches (the chosen terms' counts added up), every memory found is scored exactly."""
RESCORED = 200
"""Past :data:`EXACT_HITS`, the memories scored exactly: the best by bm25 with each term counted once (at
least four times the limit)."""


def idf(size: int, found: int) -> float:
    """A term's inverse document frequency as FTS5's bm25 takes it: found in ``found`` of ``size``
    memories, floored at 1e-6 (a word in over half of them would otherwise count against a match)."""
    return max(math.log((size - found + 0.5) / (found + 0.5)), 1e-6)


def ranked_by_words(
    conn: sqlite3.Connection,
    table: str,
    scope: str | None,
    stats: tuple[int, int],
    terms: Mapping[str, int],
    limit: int,
) -> list[tuple[int, float]]:
    """The rowids of the ``limit`` memories in ``scope`` that ``terms`` rank best, with their bm25 score,
    best first (ties: the older memory first). ``stats`` is the scope's size and total length in words;
    ``terms`` maps each term to how many of the scope's memories hold it (:func:`rarest_terms`).

    Each memory is scored from the scope's own figures only, with how often each term occurs in it, as
    FTS5's ``bm25()`` over the scope alone would score it. Only when the terms are found in more than
    :data:`EXACT_HITS` memories (words that common are rarely chosen: :func:`rarest_terms`) are the scored
    ones the :data:`RESCORED` best with each term counted once, ranked in SQL: there a long memory that
    repeats a word can be passed over for shorter ones that hold it once.
    """
    if not terms or limit <= 0:
        return []
    if scope is None:  # the namespace's own index: FTS5's bm25 is the namespace's by construction
        return _ranked_by_fts5(conn, table, terms, limit)
    size, tokens = max(stats[0], *terms.values()), stats[1]
    average = max(tokens / size, 1e-9) if size else 1.0
    expressions = [scoped_expression(scope, [term]) for term in terms]
    weights = [idf(size, found) for found in terms.values()]
    params: dict[str, object] = {"k1": BM25_K1, "b": BM25_B, "average": average, "limit": limit}
    for n, (weight, expression) in enumerate(zip(weights, expressions, strict=True)):
        params |= {f"idf{n}": weight, f"match{n}": expression}
    rows = None
    if sum(terms.values()) > EXACT_HITS:  # too many to score them all exactly: the best counted once
        candidates = _candidates(conn, table, params, len(terms), max(RESCORED, 4 * limit))
        if not candidates:
            return []
        rows = len(candidates)
        params |= {f"row{n}": rowid for n, rowid in enumerate(candidates)}
    (scored,) = conn.execute(_scores_statement(table, len(terms), rows), params).fetchone()
    return [(rowid, score) for rowid, score in json.loads(scored)]


def _ranked_by_fts5(
    conn: sqlite3.Connection, table: str, terms: Mapping[str, int], limit: int
) -> list[tuple[int, float]]:
    """The ``limit`` best memories of a namespace's own index by FTS5's ``bm25()`` (higher is better here,
    ties: the older memory first): the same Okapi bm25 the shared index's scoring computes, in C."""
    statement = (
        f"SELECT json_group_array(json_array(rowid, score)) FROM (SELECT rowid, -bm25({table}) AS score "
        f"FROM {table} WHERE {table} MATCH ? ORDER BY score DESC, rowid LIMIT ?)"
    )
    (scored,) = conn.execute(statement, (match_expression(list(terms)), limit)).fetchone()
    return [(rowid, score) for rowid, score in json.loads(scored)]


def _candidates(
    conn: sqlite3.Connection, table: str, params: dict[str, object], terms: int, limit: int
) -> list[int]:
    """The rowids of the ``limit`` best memories with each term counted once (see
    :func:`_candidates_statement`)."""
    (found,) = conn.execute(_candidates_statement(table, terms), params | {"limit": limit}).fetchone()
    return json.loads(found)


def _counts_statement(table: str, terms: int, *, capped: bool) -> str:
    """One statement for each term's number of matches in ``table``.

    One statement, not one per term (see :func:`_hits_statement` on the GIL). ``capped`` counts each term
    only up to the common-word threshold: past it the exact number changes nothing but the cost.
    """
    limit = " LIMIT ?" if capped else ""
    count = f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ?{limit}))"
    return f"SELECT {', '.join([count] * terms)}"


def common_count(size: int) -> int:
    """How many of a client's ``size`` memories a word is in once it is common (see
    :data:`COMMON_TERM_FRACTION`): counting a word's matches can stop there."""
    return int(size * COMMON_TERM_FRACTION) + 1


def pick_rarest(terms: Sequence[str], counts: Sequence[int], common: int | None) -> list[str] | None:
    """The few terms to search with, given in how many memories each is found: those found, not common
    when rarer ones exist, rarest first.

    ``common`` is :func:`common_count` when the counts stopped there; then a query whose words are all
    common gets None: the order of its words needs them counted in full (``common`` None).
    """
    found = sorted((count, term) for count, term in zip(counts, terms, strict=True) if count > 0)
    if common is None:
        return [term for _, term in found][:MAX_RANKED_TERMS]
    rare = [term for count, term in found if count < common]
    if rare or not found:
        return rare[:MAX_RANKED_TERMS]
    return None


def rarest_terms(
    conn: sqlite3.Connection, table: str, scope: str | None, size: int, terms: Sequence[str]
) -> dict[str, int]:
    """The few terms to search with (:func:`pick_rarest`) in the memories ``scope`` selects, each with how
    many of them hold it (what its IDF is made of); ``size`` is how many there are.

    Counting stops at the threshold (a chosen term is below it, so its count is exact); only a query made
    of common words alone (or a store so small that every word is common) needs them counted in full, to
    keep the rarest of them.
    """
    if not terms:
        return {}
    common = common_count(size)
    expressions = [scoped_expression(scope, [term]) for term in terms]
    if len(terms) > 1:
        capped = [value for e in expressions for value in (e, common)]
        counts = conn.execute(_counts_statement(table, len(terms), capped=True), capped).fetchone()
        chosen = pick_rarest(terms, counts, common)
        if chosen is not None:
            found = dict(zip(terms, counts, strict=True))
            return {term: found[term] for term in chosen}
    counts = conn.execute(_counts_statement(table, len(terms), capped=False), expressions).fetchone()
    found = dict(zip(terms, counts, strict=True))
    return {term: found[term] for term in pick_rarest(terms, counts, None) or []}
