"""The Korean and Japanese catalogs cover every message the UI shows, placeholders intact, and
counted words take the plural form of the reader's language."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from tisa.web.i18n import LOCALE_DIR, translations

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
Id = str | tuple[str, ...]


def _catalog(path: str) -> dict[Id, tuple[str, ...]]:
    """Each message's forms: one for a plain message, every plural form for a counted one."""
    with (LOCALE_DIR / path).open("rb") as handle:
        return {
            m.id: (m.string,) if isinstance(m.string, str) else tuple(m.string)
            for m in read_po(handle)
            if m.id
        }


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    template = _catalog("messages.pot")
    catalog = _catalog(f"{language}/LC_MESSAGES/messages.po")
    missing = sorted(str(k) for k in set(template) - {k for k, v in catalog.items() if all(v)})
    assert missing == []
    for msgid in template:
        wanted = {
            p
            for text in ((msgid,) if isinstance(msgid, str) else msgid)
            for p in PLACEHOLDER.findall(text)
        }
        for form in catalog[msgid]:
            assert set(PLACEHOLDER.findall(form)) == wanted, msgid


def test_compiled_catalogs_translate() -> None:
    assert translations("ko").gettext("Inbox") == "수신함"
    assert translations("ja").gettext("Release queue") != "Release queue"
    assert translations("en").gettext("Inbox") == "Inbox"


@pytest.mark.parametrize(
    ("language", "one", "three"),
    [
        ("en", "1 attachment", "3 attachments"),
        ("ko", "첨부 1건", "첨부 3건"),
        ("ja", "添付1件", "添付3件"),
    ],
)
def test_counted_words_take_the_languages_plural(language: str, one: str, three: str) -> None:
    catalog = translations(language)

    def count(n: int) -> str:
        return catalog.ngettext("%(num)s attachment", "%(num)s attachments", n) % {"num": n}

    assert (count(1), count(3)) == (one, three)
    missiles = catalog.ngettext("%(num)s missile", "%(num)s missiles", 1) % {"num": 1}
    assert missiles == {"en": "1 missile", "ko": "미사일 1발", "ja": "ミサイル1発"}[language]
