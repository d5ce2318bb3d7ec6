"""The words a product is found by: the terms of its title and text, computed here once, the
same for every store (SQLite's FTS5 and PostgreSQL's tsvector index these terms as given and
never parse the text themselves).

Latin (and other spaced) scripts give one term per word, case-folded. Korean, Japanese and
Chinese are written without spaces between words, so a run of those characters gives each
overlapping pair of characters (미사일 → 미사, 사일) and each single character: a query's pairs
must all be present, so 미사일 finds 북한의 미사일발사 and ミサイル finds 弾道ミサイル, and a
one-character query (핵) still finds its character. A query is turned into terms the same way
and every one must match; it is never handed to a store's query syntax.
"""

from __future__ import annotations

import re
import unicodedata

from tisa.errors import InputInvalid

#: Terms a query may hold, at most: past this a query is refused rather than made slow.
QUERY_TERMS_MAX = 32
#: A query's length in characters, at most.
QUERY_MAX = 200
# A word longer than this is cut: no index keeps arbitrarily long terms (PostgreSQL's
# lexemes stop at 2 KiB).
_TERM_MAX = 60

_WORD = re.compile(r"[^\W_]+")
# Hangul, kana and the CJK ideographs (with their extensions and compatibility forms).
_CJK = re.compile(
    r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    r"\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]+"
)


def _pairs(run: str, *, singles: bool) -> list[str]:
    found = [run[i : i + 2] for i in range(len(run) - 1)]
    if singles or len(run) == 1:
        found.extend(run)
    return found


def _terms(text: str, *, singles: bool) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    found: list[str] = []
    for word in _WORD.findall(folded):
        start = 0
        for run in _CJK.finditer(word):
            if run.start() > start:
                found.append(word[start : run.start()][:_TERM_MAX])
            found.extend(_pairs(run.group(), singles=singles))
            start = run.end()
        if start < len(word):
            found.append(word[start:][:_TERM_MAX])
    return found


def index_terms(*texts: str) -> list[str]:
    """The distinct terms of a product's title and text, sorted: what its index holds."""
    found: set[str] = set()
    for text in texts:
        found.update(_terms(text, singles=True))
    return sorted(found)


def query_terms(query: str) -> list[str]:
    """The distinct terms a search for `query` must all find, in the order written.

    Raises:
        InputInvalid: the query is too long, has no word in it, or too many.
    """
    if len(query) > QUERY_MAX:
        raise InputInvalid(f"q: a search is at most {QUERY_MAX} characters")
    # A query's CJK run is its pairs (a single character only when alone): requiring every
    # character too would find nothing the pairs do not.
    found = list(dict.fromkeys(_terms(query, singles=False)))
    if not found:
        raise InputInvalid("q: no word to search for (letters or digits are needed)")
    if len(found) > QUERY_TERMS_MAX:
        raise InputInvalid(f"q: at most {QUERY_TERMS_MAX} words (or character pairs) to search")
    return found
