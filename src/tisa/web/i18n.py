"""The UI's languages: gettext catalogs (Babel .po files) compiled in memory at start-up.

The .po files are the source of truth and are what translators edit; compiling them when a
node starts means no binary .mo files live in the repository and none can go stale.
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from tisa.services.accounts import LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def translations(language: str, root: Path = LOCALE_DIR) -> NullTranslations:
    """The compiled catalog for `language` (English: the messages as written)."""
    po = root / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == "en" or not po.is_file():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def all_translations(root: Path = LOCALE_DIR) -> dict[str, NullTranslations]:
    """Every UI language's catalog."""
    return {language: translations(language, root) for language in LANGUAGES}
