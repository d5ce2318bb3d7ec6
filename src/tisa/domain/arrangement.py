"""The arrangement as data: parties, hub, channels, scope, classification equivalence.

Pure: `parse_arrangement` takes TOML text and returns a validated, frozen `Arrangement` whose
`digest` every node compares with its peers'. Reading the file is the caller's business.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tisa.crypto.canonical import canonical_json, sha256_digest
from tisa.domain.markings import Classification, check_trigraph
from tisa.errors import ArrangementInvalid, InputInvalid, MarkingInvalid

_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True)
class Party:
    """A nation running one node; its pins are None until `tisa arrangement pin`."""

    code: str
    name: str
    language: str
    signing_key: Mapping[str, str] | None = None
    tls_certificate: str | None = None

    @property
    def pinned(self) -> bool:
        """True once the party's signing key and TLS certificate are in the arrangement."""
        return self.signing_key is not None and self.tls_certificate is not None


@dataclass(frozen=True)
class Channel:
    """A bilateral agreement between two parties: the only links anything moves over."""

    parties: tuple[str, str]
    ceiling: Classification
    basis: str
    max_attachment_bytes: int = 4 * 1024**3

    @property
    def id(self) -> str:
        """'USA-KOR', in the order the arrangement writes the parties."""
        return "-".join(self.parties)

    @property
    def label(self) -> str:
        """'USA–KOR' for people."""
        return "–".join(self.parties)

    def joins(self, a: str, b: str) -> bool:
        """True if this channel links `a` and `b` (either direction)."""
        return {a, b} == set(self.parties)

    def other(self, party: str) -> str:
        """The party at the other end from `party`."""
        first, second = self.parties
        return second if party == first else first


@dataclass(frozen=True)
class FusionWindows:
    """How far apart two reports may be and still describe one event (the `[fusion]` table).

    Launches of one kind within `launch_window_s` seconds of a neighbour and, where both give
    a launch position, within `launch_distance_km` of it are one event: a salvo of several
    missiles is one event with a count. Seismic reports at a test site correlate the same way
    with `test_window_s` and `test_distance_km`; the window is short so that a collapse minutes
    after a test stays an event of its own. Two figures disagree when they lie further apart
    than `disagreement_sigmas` times their combined one-sigma uncertainty.
    """

    launch_window_s: float = 600.0
    launch_distance_km: float = 150.0
    test_window_s: float = 240.0
    test_distance_km: float = 100.0
    disagreement_sigmas: float = 2.0


@dataclass(frozen=True)
class Arrangement:
    """The agreement every node holds identically."""

    id: str
    title: str
    hub: str
    parties: Mapping[str, Party]
    channels: tuple[Channel, ...]
    scope: frozenset[str]
    terms: Mapping[str, Mapping[Classification, str]]
    digest: str
    source: str
    fusion: FusionWindows = FusionWindows()

    def party(self, code: str) -> Party:
        """The party with this code.

        Raises:
            InputInvalid: the arrangement has no such party.
        """
        try:
            return self.parties[code]
        except KeyError:
            raise InputInvalid(f"{code} is not a party to the arrangement {self.id}") from None

    def channel_between(self, a: str, b: str) -> Channel | None:
        """The channel linking `a` and `b`, or None: then nothing may move between them."""
        for channel in self.channels:
            if channel.joins(a, b):
                return channel
        return None

    def channel(self, channel_id: str) -> Channel:
        """The channel with this id ('USA-KOR'; 'KOR-USA' is accepted too).

        Raises:
            InputInvalid: no such channel.
        """
        for channel in self.channels:
            if channel_id in (channel.id, "-".join(reversed(channel.parties))):
                return channel
        known = ", ".join(c.id for c in self.channels)
        raise InputInvalid(f"no channel {channel_id!r}; the channels are {known}")

    def peers_of(self, party: str) -> tuple[str, ...]:
        """Every party linked to `party` by a channel."""
        return tuple(c.other(party) for c in self.channels if party in c.parties)

    def term(self, party: str, level: Classification) -> str:
        """The national term `party` uses for `level` (e.g. KOR, SECRET -> 군사Ⅱ급비밀).

        Raises:
            InputInvalid: the arrangement has no such party.
        """
        return self._scheme(party)[level]

    def _scheme(self, party: str) -> Mapping[Classification, str]:
        scheme = self.terms.get(party)
        if scheme is None:
            raise InputInvalid(f"{party} is not a party to the arrangement {self.id}")
        return scheme

    def level_of_term(self, party: str, term: str) -> Classification:
        """The common level of a national term, or of a common name.

        Raises:
            MarkingInvalid: neither a term of `party`'s scheme nor a common level.
            InputInvalid: the arrangement has no such party.
        """
        for level, national in self._scheme(party).items():
            if national == term:
                return level
        return Classification.parse(term)

    @property
    def pinned(self) -> bool:
        """True when every party's keys are pinned."""
        return all(p.pinned for p in self.parties.values())


def parse_arrangement(text: str, *, source: str) -> Arrangement:
    """Parse and validate arrangement TOML.

    Raises:
        ArrangementInvalid: bad TOML or an inconsistent entry; the reason names `source`
            and the entry.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ArrangementInvalid(f"{source}: not valid TOML: {exc}") from exc
    try:
        return _build(data, source)
    except ArrangementInvalid:
        raise
    except (InputInvalid, KeyError, TypeError, ValueError) as exc:
        detail = exc.reason if isinstance(exc, InputInvalid) else f"missing or malformed {exc}"
        raise ArrangementInvalid(f"{source}: {detail}") from exc


def _table(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ArrangementInvalid(f"{source}: [{key}] is missing or not a table")
    return value


def _array(data: Mapping[str, Any], key: str, source: str) -> Sequence[Any]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise ArrangementInvalid(f"{source}: [[{key}]] is missing or empty")
    return value


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ArrangementInvalid(f"{where}: '{key}' must be a non-empty string")
    return value


def _build(data: Mapping[str, Any], source: str) -> Arrangement:
    head = _table(data, "arrangement", source)
    parties: dict[str, Party] = {}
    for index, entry in enumerate(_array(data, "party", source)):
        where = f"{source}: party[{index}]"
        if not isinstance(entry, dict):
            raise ArrangementInvalid(f"{where}: must be a table")
        try:
            code = check_trigraph(_text(entry, "code", where))
        except MarkingInvalid as exc:
            raise ArrangementInvalid(f"{where}: {exc.reason}") from exc
        if code in parties:
            raise ArrangementInvalid(f"{where}: party {code} is listed twice")
        key = entry.get("signing_key")
        if key is not None and not (
            isinstance(key, dict) and all(isinstance(v, str) for v in key.values())
        ):
            raise ArrangementInvalid(f"{where}: signing_key must be a JWK table of strings")
        cert = entry.get("tls_certificate")
        if cert is not None and not (isinstance(cert, str) and "BEGIN CERTIFICATE" in cert):
            raise ArrangementInvalid(f"{where}: tls_certificate must be a PEM certificate")
        parties[code] = Party(
            code=code,
            name=_text(entry, "name", where),
            language=_text(entry, "language", where),
            signing_key=key,
            tls_certificate=cert,
        )

    where = f"{source}: [arrangement]"
    hub = _text(head, "hub", where)
    if hub not in parties:
        raise ArrangementInvalid(f"{where}: hub {hub} is not a listed party")

    channels: list[Channel] = []
    for index, entry in enumerate(_array(data, "channel", source)):
        where = f"{source}: channel[{index}]"
        if not isinstance(entry, dict):
            raise ArrangementInvalid(f"{where}: must be a table")
        pair = entry.get("parties")
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            raise ArrangementInvalid(f"{where}: 'parties' must name exactly two parties")
        a, b = pair
        for code in (a, b):
            if code not in parties:
                raise ArrangementInvalid(f"{where}: {code} is not a listed party")
        if a == b:
            raise ArrangementInvalid(f"{where}: a channel joins two different parties")
        if hub not in (a, b):
            # A spoke-to-spoke link would bypass the hub's consent check.
            raise ArrangementInvalid(f"{where}: every channel must include the hub {hub}")
        if any(c.joins(a, b) for c in channels):
            raise ArrangementInvalid(f"{where}: channel {a}–{b} is listed twice")
        try:
            ceiling = Classification.parse(_text(entry, "ceiling", where))
        except MarkingInvalid as exc:
            raise ArrangementInvalid(f"{where}: {exc.reason}") from exc
        limit_mb = entry.get("max_attachment_mb", 4096)
        if not isinstance(limit_mb, int) or isinstance(limit_mb, bool) or limit_mb < 1:
            raise ArrangementInvalid(f"{where}: max_attachment_mb must be a whole number ≥ 1")
        channels.append(
            Channel((a, b), ceiling, _text(entry, "basis", where), limit_mb * 1024 * 1024)
        )

    scope_table = _table(data, "scope", source)
    topics = scope_table.get("topics")
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
        raise ArrangementInvalid(f"{source}: [scope] topics must be a non-empty list of strings")
    for topic in topics:
        if not is_topic(topic):
            raise ArrangementInvalid(
                f"{source}: [scope] topic {topic!r} must be dotted lowercase words"
            )

    scheme_table = _table(data, "classification", source)
    terms: dict[str, dict[Classification, str]] = {}
    for code in parties:
        where = f"{source}: [classification.{code}]"
        scheme = scheme_table.get(code)
        if not isinstance(scheme, dict):
            raise ArrangementInvalid(f"{where} is missing")
        national: dict[Classification, str] = {}
        for level in Classification:
            national[level] = _text(scheme, level.name, where)
        if len(set(national.values())) != len(national):
            raise ArrangementInvalid(f"{where}: two levels share one term")
        extra = set(scheme) - {level.name for level in Classification}
        if extra:
            raise ArrangementInvalid(f"{where}: unknown level(s) {', '.join(sorted(extra))}")
        terms[code] = national

    return Arrangement(
        id=_text(head, "id", f"{source}: [arrangement]"),
        fusion=_fusion(data, source),
        title=_text(head, "title", f"{source}: [arrangement]"),
        hub=hub,
        parties=parties,
        channels=tuple(channels),
        scope=frozenset(topics),
        terms=terms,
        digest=sha256_digest(canonical_json(data)),
        source=source,
    )


def _fusion(data: Mapping[str, Any], source: str) -> FusionWindows:
    """The `[fusion]` table; absent, or any key absent, means the defaults."""
    table = data.get("fusion")
    if table is None:
        return FusionWindows()
    where = f"{source}: [fusion]"
    if not isinstance(table, dict):
        raise ArrangementInvalid(f"{where} must be a table")
    known = FusionWindows.__dataclass_fields__
    extra = set(table) - set(known)
    if extra:
        raise ArrangementInvalid(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
    values: dict[str, float] = {}
    for key, value in table.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and value > 0):
            raise ArrangementInvalid(f"{where}: '{key}' must be a number > 0")
        values[key] = float(value)
    return FusionWindows(**values)


def is_topic(topic: str) -> bool:
    """True if `topic` is dotted lowercase words, like 'dprk.missile.launch'."""
    words = topic.split(".")
    return len(words) >= 2 and all(w and all(ch in _TOPIC_CHARS for ch in w) for w in words)
