"""The inbox's query parameters, parsed into an `InboxQuery`: each bad one is refused by name
with what was expected, before the store is asked anything."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from tisa.domain.arrangement import is_topic
from tisa.domain.markings import Classification, Precedence
from tisa.errors import InputInvalid, MarkingInvalid
from tisa.services.inbox import InboxQuery

#: What the OpenAPI document says each parameter holds (the parsers below decide).
TOPIC_FAMILY = r"^(\*|[a-z0-9-]+(\.[a-z0-9-]+)*(\.\*)?)$"
LEVELS = (
    "^("
    + "|".join(sorted({*(c.name for c in Classification), *(c.label for c in Classification)}))
    + ")$"
)
PARTY = "^[A-Z]{3}$"
PRECEDENCES = "^(" + "|".join(p.value for p in Precedence) + ")$"


def _moment(name: str, text: str, *, end: bool) -> datetime:
    """An ISO 8601 date or date and time, in UTC when no zone is written. A date alone is
    its day's start for `since` and the next day's start for `until` (the day included).

    Raises:
        InputInvalid: neither a date nor a date and time.
    """
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError) as exc:
        raise InputInvalid(
            f"{name}: {text!r} is not an ISO 8601 date (2026-12-01) or date and time "
            "(2026-12-01T09:30:00Z)"
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _topic(text: str) -> str | None:
    """A topic or a family of them: 'dprk.missile', 'dprk.missile.*' and 'dprk.missile.launch'
    all name a family; '*' narrows nothing.

    Raises:
        InputInvalid: not dotted lowercase words.
    """
    if text == "*":
        return None
    family = text.removesuffix(".*")
    if is_topic(family) or is_topic(f"{family}.x"):
        return family
    raise InputInvalid(
        f"topic: {text!r} is not a topic or a family of topics (dotted lowercase words, "
        "such as dprk.missile)"
    )


def inbox_query(
    *,
    parties: set[str],
    state: str | None = None,
    originator: str | None = None,
    classification: str | None = None,
    precedence: str | None = None,
    topic: str | None = None,
    since: str | None = None,
    until: str | None = None,
    unread: bool = False,
    q: str | None = None,
) -> InboxQuery:
    """The query these parameters ask (None or empty: not narrowed by it).

    Raises:
        InputInvalid: a parameter that does not parse, naming it.
    """
    if originator and originator not in parties:
        raise InputInvalid(
            f"originator: {originator!r} is not a party (one of {', '.join(sorted(parties))})"
        )
    level = None
    if classification:
        try:
            level = Classification.parse(classification)
        except MarkingInvalid as exc:
            raise InputInvalid(f"classification: {exc.reason}") from exc
    lane = None
    if precedence:
        try:
            lane = Precedence(precedence)
        except ValueError as exc:
            names = ", ".join(p.value for p in Precedence)
            raise InputInvalid(f"precedence: {precedence!r} is not one of {names}") from exc
    start = _moment("since", since, end=False) if since else None
    stop = _moment("until", until, end=True) if until else None
    if start is not None and stop is not None and start >= stop:
        raise InputInvalid("since: must come before until")
    if q is not None and not q.strip():
        q = None
    return InboxQuery(
        state=state or None,
        originator=originator or None,
        classification=level,
        precedence=lane,
        topic=_topic(topic) if topic else None,
        since=start,
        until=stop,
        unread=unread,
        q=q,
    )
