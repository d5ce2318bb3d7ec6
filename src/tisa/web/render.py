"""Pages rendered in the reader's language, with the session's CSRF token and navigation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from babel.support import NullTranslations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from tisa.api.session import csrf_token, session_of
from tisa.services.accounts import LANGUAGES, Role, User
from tisa.web.i18n import all_translations
from tisa.web.vocabulary import INFORMATION_CREDIBILITY, QUALIFIERS, SOURCE_RELIABILITY

TEMPLATES = Path(__file__).parent / "templates"

# Sent with every page: nothing runs or loads but this node's own files.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

# Which sections each role sees in the navigation (the API enforces the same roles).
NAV: list[tuple[str, str, tuple[Role, ...]]] = [
    ("inbox", "/ui/inbox", tuple(Role)),
    ("compose", "/ui/compose", (Role.ANALYST, Role.RELEASE_OFFICER)),
    ("releases", "/ui/releases", (Role.RELEASE_OFFICER,)),
    ("consents", "/ui/consents", (Role.RELEASE_OFFICER, Role.ADMIN, Role.AUDITOR)),
    ("events", "/ui/events", tuple(Role)),
    ("tracks", "/ui/tracks", tuple(Role)),
    ("peers", "/ui/peers", (Role.ADMIN, Role.AUDITOR)),
    ("audit", "/ui/audit", (Role.AUDITOR, Role.ADMIN)),
]


def when(value: datetime | str | None) -> str:
    """A UTC moment as operators read it: 2026-11-28 12:03:07Z."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _environment(translations: NullTranslations) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = when
    env.globals["source_grades"] = SOURCE_RELIABILITY
    env.globals["info_grades"] = INFORMATION_CREDIBILITY
    env.globals["qualifier_words"] = QUALIFIERS
    return env


class Pages:
    """One template environment per language; renders a page for one user."""

    def __init__(
        self,
        party: str,
        party_name: str,
        warnings: Callable[[User], list[dict[str, Any]]] = lambda _user: [],
    ) -> None:
        self.party = party
        self.party_name = party_name
        # The missile warnings in force a user may see: on every page, from its first render.
        self._warnings = warnings
        self._envs = {lang: _environment(t) for lang, t in all_translations().items()}

    def language(self, user: User | None, request: Request) -> str:
        """The user's language; before sign-in, the browser's first supported one."""
        if user is not None and user.language in LANGUAGES:
            return user.language
        wanted = request.query_params.get("lang") or request.headers.get("accept-language", "")
        for part in wanted.split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in LANGUAGES:
                return code
        return "en"

    def render(
        self,
        request: Request,
        user: User | None,
        template: str,
        *,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """The page, in the user's language, with navigation, CSRF token and headers."""
        language = self.language(user, request)
        env = self._envs[language]
        session = session_of(request)
        nav = (
            [] if user is None else [(key, href) for key, href, roles in NAV if user.role in roles]
        )
        body = env.get_template(template).render(
            request=request,
            user=user,
            lang=language,
            languages=LANGUAGES,
            party=self.party,
            party_name=self.party_name,
            nav=nav,
            path=request.url.path,
            # The page with its query (filters, ?version=): where a language switch returns.
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            csrf=csrf_token(session) if session and user else "",
            # Where this page's live stream starts: the log's head before its data was read.
            live_after=getattr(request.state, "live_after", ""),
            missile_warnings=[] if user is None else self._warnings(user),
            **context,
        )
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
