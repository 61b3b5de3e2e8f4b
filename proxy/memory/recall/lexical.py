"""Recall by words: which words of a question to search with (every store), and in SQLite FTS5 the
query that ranks.

Each client's memories have an FTS5 index of their own (see :mod:`proxy.memory.stores.local.schema`), so
bm25's
statistics (how rare a word is, how long a memory is) are that client's alone: another client's memories
never change what a question recalls.

- **Relevance**: porter stemming over unicode61, diacritics folded, ranked by ``bm25``. The MATCH
  expression is built here from words only, each one quoted, so no client text is ever parsed as FTS5
  syntax (``what's "x" AND (y`` is just the words ``x`` and ``y``).
- **Fast recall**: bm25 costs one to two microseconds for every row a query matches, so a long question
  full of common words would rank thousands of rows. Like Lucene's MoreLikeThis and CommonTermsQuery, the
  query keeps only its few rarest words, and words found in a large share of the client's memories only
  count when there is nothing rarer. :func:`pick_rarest` decides that from counts any store makes; the
  PostgreSQL store (:mod:`proxy.memory.stores.postgres.search`) counts in its own index.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence

__all__ = [
    "COMMON_TERM_FRACTION",
    "LEXICAL_CANDIDATES",
    "MAX_QUERY_TERMS",
    "MAX_RANKED_TERMS",
    "common_count",
    "match_expression",
    "pick_rarest",
    "query_terms",
    "rarest_terms",
    "search_statement",
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


def search_statement(table: str) -> str:
    """The best matches in ``table`` (a client's index) as one JSON array in one row.

    One row because sqlite3 gives up the GIL around every step of a statement, and in a busy proxy each
    step's return can wait a whole switch interval (5 ms) for the event loop's thread. The numbers as text
    with all 17 digits (``%!.17g``), which JSON's REAL formatting (15) would round. CROSS JOIN pins the
    index as the outer loop. ``user_id`` is checked again although the index holds one client only.
    """
    return f"""
SELECT json_group_array(json_array(
    m.id, m.user_id, m.content, printf('%!.17g', m.created_at), m.metadata, printf('%!.17g', rank),
    m.rowid
)) FROM (
    SELECT m.rowid AS rowid, m.id, m.user_id, m.content, m.created_at, m.metadata, bm25({table}) AS rank
    FROM {table} CROSS JOIN memories AS m ON m.rowid = {table}.rowid
    WHERE {table} MATCH ? AND m.user_id = ?
    ORDER BY rank
    LIMIT ?
) AS m
"""


def _counts_statement(table: str, terms: int, *, capped: bool) -> str:
    """One statement for each term's number of matches in ``table``.

    One statement, not one per term (see :func:`search_statement` on the GIL). ``capped`` counts each term
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


def rarest_terms(conn: sqlite3.Connection, table: str, size: int, terms: Sequence[str]) -> list[str]:
    """The few terms to search with (:func:`pick_rarest`); ``size`` is how many memories the client has.

    Counting stops at the threshold; only a query made of common words alone (or a store so small that
    every word is common) needs them counted in full, to keep the rarest of them.
    """
    if len(terms) == 1:
        return list(terms)
    common = common_count(size)
    expressions = [match_expression([term]) for term in terms]
    capped = [value for e in expressions for value in (e, common)]
    counts = conn.execute(_counts_statement(table, len(terms), capped=True), capped).fetchone()
    chosen = pick_rarest(terms, counts, common)
    if chosen is None:
        counts = conn.execute(_counts_statement(table, len(terms), capped=False), expressions).fetchone()
        chosen = pick_rarest(terms, counts, None) or []
    return chosen
