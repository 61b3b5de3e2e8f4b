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
from collections.abc import Sequence

__all__ = [
    "COMMON_TERM_FRACTION",
    "LEXICAL_CANDIDATES",
    "MAX_QUERY_TERMS",
    "MAX_RANKED_TERMS",
    "bm25",
    "common_count",
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

LEXICAL_CANDIDATES = 10
"""Lexical hits a search ranks before fusion (at least its limit)."""

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


def scoped_expression(scope: str, terms: Sequence[str]) -> str:
    """``terms`` (:func:`match_expression`) in the ``content`` column of the memories ``scope`` selects."""
    return f"{scope} AND content : ({match_expression(terms)})"


def _hits_statement(table: str, terms: int) -> str:
    """Every memory each term is found in (one scoped expression per term), with how often it occurs
    there and the memory's length in words, as one JSON array in one row.

    One row because sqlite3 gives up the GIL around every step of a statement, and in a busy proxy each
    step's return can wait a whole switch interval (5 ms) for the event loop's thread. How often: FTS5's
    ``highlight`` marks each occurrence of the query's term in the text (stemmed: "runs" for "run").
    """
    marked = f"highlight({table}, 1, char(1), '')"
    found = " UNION ALL ".join(
        f"SELECT {n} AS term, rowid, length({marked}) - length(replace({marked}, char(1), '')) AS frequency, "
        f"(SELECT tokens FROM memories AS m WHERE m.rowid = {table}.rowid) AS tokens "
        f"FROM {table} WHERE {table} MATCH ?"
        for n in range(terms)
    )
    # LIMIT -1 (no limit) keeps SQLite from flattening a single term's query into the aggregate, where
    # highlight() cannot run.
    return f"SELECT json_group_array(json_array(term, rowid, frequency, tokens)) FROM ({found} LIMIT -1)"


BM25_K1 = 1.2
BM25_B = 0.75


def bm25(size: int, tokens: int, hits: Sequence[dict[int, int]], lengths: dict[int, int]) -> dict[int, float]:
    """Okapi bm25 of each memory (higher is better), as FTS5's ``bm25()`` computes it, over a namespace of
    ``size`` memories and ``tokens`` words: ``hits`` holds, for each query term, how often it occurs in each
    memory it is found in; ``lengths`` each memory's length in words."""
    size = max(size, len(lengths))  # figures read a moment before a write landed are never below the hits
    average = max(tokens / size, 1e-9) if size else 1.0
    scores: dict[int, float] = {}
    for found in hits:
        idf = max(math.log((size - len(found) + 0.5) / (len(found) + 0.5)), 1e-6)
        for rowid, frequency in found.items():
            norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[rowid] / average)
            scores[rowid] = scores.get(rowid, 0.0) + idf * frequency * (BM25_K1 + 1) / (frequency + norm)
    return scores


def ranked_by_words(
    conn: sqlite3.Connection,
    table: str,
    scope: str,
    stats: tuple[int, int],
    terms: Sequence[str],
    limit: int,
) -> list[tuple[int, float]]:
    """The rowids of the ``limit`` memories in ``scope`` that ``terms`` rank best, with their bm25 score,
    best first (ties: the older memory first). ``stats`` is the scope's size and total length in words."""
    if not terms or limit <= 0:
        return []
    expressions = [scoped_expression(scope, [term]) for term in terms]
    (found,) = conn.execute(_hits_statement(table, len(terms)), expressions).fetchone()
    hits: list[dict[int, int]] = [{} for _ in terms]
    lengths: dict[int, int] = {}
    for term, rowid, frequency, length in json.loads(found):
        hits[term][rowid] = max(frequency, 1)
        lengths[rowid] = length
    scores = bm25(*stats, hits, lengths)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]


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
    conn: sqlite3.Connection, table: str, scope: str, size: int, terms: Sequence[str]
) -> list[str]:
    """The few terms to search with (:func:`pick_rarest`) in the memories ``scope`` selects; ``size`` is
    how many there are.

    Counting stops at the threshold; only a query made of common words alone (or a store so small that
    every word is common) needs them counted in full, to keep the rarest of them.
    """
    if len(terms) == 1:
        return list(terms)
    common = common_count(size)
    expressions = [scoped_expression(scope, [term]) for term in terms]
    capped = [value for e in expressions for value in (e, common)]
    counts = conn.execute(_counts_statement(table, len(terms), capped=True), capped).fetchone()
    chosen = pick_rarest(terms, counts, common)
    if chosen is None:
        counts = conn.execute(_counts_statement(table, len(terms), capped=False), expressions).fetchone()
        chosen = pick_rarest(terms, counts, None) or []
    return chosen
