"""The Korean and Japanese catalogs cover every message the UI shows, placeholders intact."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from tisa.web.i18n import LOCALE_DIR, translations

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalog(path: str) -> dict[str, str]:
    with (LOCALE_DIR / path).open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id}


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    template = _catalog("messages.pot")
    catalog = _catalog(f"{language}/LC_MESSAGES/messages.po")
    missing = sorted(set(template) - {k for k, v in catalog.items() if v})
    assert missing == []
    for msgid in template:
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(catalog[msgid])), msgid


def test_compiled_catalogs_translate() -> None:
    assert translations("ko").gettext("Inbox") == "수신함"
    assert translations("ja").gettext("Release queue") != "Release queue"
    assert translations("en").gettext("Inbox") == "Inbox"
