"""Page banners: the highest marking of what a page shows, in the reader's national scheme,
with the colour of its level (the US cover-sheet colours, used for every scheme: orange TOP
SECRET, red SECRET, blue CONFIDENTIAL, green for a page with nothing classified)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tisa.domain.arrangement import Arrangement
from tisa.domain.markings import Classification, Markings, page_marking, unclassified_term

# The CSS class of each level (app.css colours them); None: nothing classified.
LEVEL_STYLE: dict[Classification | None, str] = {
    None: "level-unclassified",
    Classification.CONFIDENTIAL: "level-confidential",
    Classification.SECRET: "level-secret",
    Classification.TOP_SECRET: "level-top-secret",
}


def level_style(level: Classification | None) -> str:
    """The CSS class that colours `level`."""
    return LEVEL_STYLE[level]


def page_banner(
    arrangement: Arrangement, reader: str, items: Iterable[Markings], *, draft: bool = False
) -> dict[str, Any]:
    """What the page's top and bottom banners say and how they are coloured; `draft`: the
    page shows one draft, which the banner says apart from its marking."""
    marking = page_marking(items, reader)
    term = (
        unclassified_term(reader)
        if marking.level is None
        else arrangement.term(reader, marking.level)
    )
    return {"text": marking.banner(term), "style": level_style(marking.level), "draft": draft}
