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

__all__ = ["asks_when", "tells_when"]

_UNIT = r"(?:second|minute|hour|day|night|week|weekend|month|year|decade|summer|winter|spring|fall|autumn)s?"
_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
)
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"

_ASKS_WHEN = re.compile(
    r"^\W*(?:when\b|since when\b|how long ago\b"
    r"|(?:in |on |during )?(?:what|which) (?:time|date|day|week|weekend|month|year|season)\b)",
    re.IGNORECASE,
)
_TELLS_WHEN = re.compile(
    r"\b(?:yesterday|today|tonight|tomorrow|recently|lately|earlier|ago"
    rf"|(?:last|next|this|past|coming|that|every) (?:{_UNIT}|{_WEEKDAY}|{_MONTH}|morning|evening|afternoon)"
    rf"|(?:in|on|since|until|by|early|late|mid) {_MONTH}|{_MONTH} \d{{1,2}}\b"
    rf"|\d{{1,2}}(?:st|nd|rd|th)? {_MONTH}"
    rf"|on {_WEEKDAY}|(?:19|20)\d\d|\d{{1,4}}[-/]\d{{1,2}}[-/]\d{{1,4}})\b",
    re.IGNORECASE,
)


def asks_when(query: str) -> bool:
    """Whether ``query`` asks for a time: "When did …", "Since when …", "In which month …"."""
    return bool(_ASKS_WHEN.search(query))


def tells_when(content: str) -> bool:
    """Whether ``content`` states a time in words or digits: "yesterday", "last week", "two years ago",
    "in May", "on Friday", "2023", "2024-05-01"."""
    return bool(_TELLS_WHEN.search(content))
