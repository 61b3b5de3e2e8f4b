"""Questions that ask when, and memories that say when: a "when" question is answered by a memory that
states a time ("I went to the support group yesterday"), not by one that only shares its words.

On LoCoMo's development conversations 71% of the turns that answer a temporal question state a time in
words, against 12% of all turns. Stating a time, and stating one when the question asks when, are two of
the features recall ranks what words and meaning found by (:func:`~proxy.memory.recall.ranking.features`):
through the proxy, counting such a memory twice for a "when" question took temporal questions from 59.7% to
64.5% (0.12.0). Nothing is recalled for stating a time alone. English only; a question in another language
ranks as any other.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet

from proxy.memory.recall.lexical import words_of

__all__ = ["asks_when", "tells_when"]

_UNITS = (
    "second", "minute", "hour", "day", "night", "week", "weekend", "month", "year", "decade", "summer",
    "winter", "spring", "fall", "autumn",
)  # fmt: skip
_MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec",
)  # fmt: skip
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ADVERBS = ("yesterday", "today", "tonight", "tomorrow", "recently", "lately", "earlier", "ago")
_PARTS_OF_DAY = ("morning", "evening", "afternoon")

_UNIT = rf"(?:{'|'.join(_UNITS)})s?"
_MONTH = rf"(?:{'|'.join(_MONTHS)})"
_WEEKDAY = rf"(?:{'|'.join(_WEEKDAYS)})s?"

_TELLING_WORDS = frozenset(
    (
        *_ADVERBS,
        *_PARTS_OF_DAY,
        *_MONTHS,
        *_UNITS,
        *_WEEKDAYS,
        *(f"{word}s" for word in (*_UNITS, *_WEEKDAYS)),
    )
)
"""Every way :data:`_TELLS_WHEN` tells a time holds one of these words or a number: a text with neither is
passed over without the pattern, which costs about 30 µs a memory (recall ranks about a hundred)."""

_DIGIT = re.compile(r"\d")
_ASKS_WHEN = re.compile(
    r"^\W*(?:when\b|since when\b|how long ago\b"
    r"|(?:in |on |during )?(?:what|which) (?:time|date|day|week|weekend|month|year|season)\b)",
    re.IGNORECASE,
)
_TELLS_WHEN = re.compile(
    rf"\b(?:{'|'.join(_ADVERBS)}"
    rf"|(?:last|next|this|past|coming|that|every) (?:{_UNIT}|{_WEEKDAY}|{_MONTH}|{'|'.join(_PARTS_OF_DAY)})"
    rf"|(?:in|on|since|until|by|early|late|mid) {_MONTH}|{_MONTH} \d{{1,2}}\b"
    rf"|\d{{1,2}}(?:st|nd|rd|th)? {_MONTH}"
    rf"|on {_WEEKDAY}|(?:19|20)\d\d|\d{{1,4}}[-/]\d{{1,2}}[-/]\d{{1,4}})\b",
    re.IGNORECASE,
)


def asks_when(query: str) -> bool:
    """Whether ``query`` asks for a time: "When did …", "Since when …", "In which month …"."""
    return bool(_ASKS_WHEN.search(query))


def tells_when(content: str, words: AbstractSet[str] | None = None) -> bool:
    """Whether ``content`` states a time in words or digits: "yesterday", "last week", "two years ago",
    "in May", "on Friday", "2023", "2024-05-01". ``words``: its words, lowercased
    (:func:`~proxy.memory.recall.lexical.words_of`), where the caller has them already."""
    if words is None:
        words = {word.lower() for word in words_of(content)}
    if words.isdisjoint(_TELLING_WORDS) and not _DIGIT.search(content):
        return False
    return bool(_TELLS_WHEN.search(content))
