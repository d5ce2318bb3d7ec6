"""The rules for live track streams (policy STREAM): the same rules of release as a product's
hop, with the originator's live-track consent in place of a product consent."""

from __future__ import annotations

from typing import Any

import pytest
from harness.factories import consent, markings, situation
from hypothesis import given
from hypothesis import strategies as st

from tisa.domain.consent import ConsentKind, HeldConsent, StreamMode
from tisa.domain.markings import Classification
from tisa.domain.policy import STREAM, decide, find_live_consent
from tisa.domain.questions import Stream, StreamHop

LIVE = StreamMode.LIVE
EXERCISE = StreamMode.EXERCISE


def _stream(mode: StreamMode = LIVE, **marks: Any) -> Stream:
    return Stream(markings(**marks), mode)


def _live_consent(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "kind": ConsentKind.LIVE_TRACKS,
        "topics": frozenset(),
        "modes": frozenset({LIVE}),
    }
    return consent(**(fields | overrides))


def _rules(hop: StreamHop, *consents: Any, suspended: tuple[str, ...] = ()) -> tuple[str, ...]:
    return decide(STREAM, hop, situation(consents, suspended)).rules


def test_the_originator_streams_to_the_hub_under_the_rules_alone() -> None:
    assert _rules(StreamHop(_stream(), "KOR", "USA")) == ()


def test_the_hub_passes_a_track_on_under_a_live_track_consent() -> None:
    assert _rules(StreamHop(_stream(), "USA", "JPN"), _live_consent()) == ()


@pytest.mark.parametrize(
    ("hop", "consents", "rules"),
    [
        (StreamHop(_stream(), "USA", "JPN"), (), ("consent",)),
        # A standing rule for products, however broad, carries no track.
        (StreamHop(_stream(), "USA", "JPN"), (consent(topics={"*"}),), ("consent",)),
        (StreamHop(_stream(EXERCISE), "USA", "JPN"), (_live_consent(),), ("consent",)),
        (
            StreamHop(_stream(classification=Classification.SECRET), "USA", "JPN"),
            (_live_consent(max_classification=Classification.CONFIDENTIAL),),
            ("consent",),
        ),
        (StreamHop(_stream(), "KOR", "JPN"), (_live_consent(),), ("channel",)),
        (StreamHop(_stream(), "USA", "KOR"), (_live_consent(),), ("no-echo",)),
        (
            StreamHop(_stream(rel_to=frozenset({"USA", "KOR"})), "USA", "JPN"),
            (_live_consent(),),
            ("releasability",),
        ),
        (
            StreamHop(_stream(classification=Classification.TOP_SECRET), "KOR", "USA"),
            (),
            ("ceiling",),
        ),
    ],
)
def test_what_a_stream_may_not_do(
    hop: StreamHop, consents: tuple[Any, ...], rules: tuple[str, ...]
) -> None:
    assert _rules(hop, *consents) == rules


def test_a_suspended_channel_stops_the_stream_for_now() -> None:
    decision = decide(STREAM, StreamHop(_stream(), "KOR", "USA"), situation(suspended=("USA-KOR",)))
    assert decision.rules == ("suspended",)
    assert decision.held


def test_a_revoked_live_consent_passes_nothing_more() -> None:
    revoked = HeldConsent(_live_consent(), revoked_at=situation().now)
    assert _rules(StreamHop(_stream(), "USA", "JPN"), revoked) == ("consent",)


def test_a_relay_citing_one_consent_rests_on_that_one_only() -> None:
    other = _live_consent(id="00000000-0000-4000-8000-00000000beef")
    hop = StreamHop(_stream(), "USA", "JPN", consent_id="00000000-0000-4000-8000-00000000beef")
    where = situation([_live_consent()])
    assert find_live_consent(hop, where) is None
    assert find_live_consent(hop, situation([_live_consent(), other])) is not None


@given(
    level=st.sampled_from([Classification.CONFIDENTIAL, Classification.SECRET]),
    ceiling=st.sampled_from(list(Classification)),
    modes=st.frozensets(st.sampled_from(list(StreamMode)), min_size=1),
    mode=st.sampled_from(list(StreamMode)),
)
def test_the_hub_relays_exactly_what_a_live_consent_covers(
    level: Classification, ceiling: Classification, modes: frozenset[StreamMode], mode: StreamMode
) -> None:
    given_consent = _live_consent(max_classification=ceiling, modes=modes)
    hop = StreamHop(_stream(mode, classification=level), "USA", "JPN")
    allowed = decide(STREAM, hop, situation([given_consent])).allowed
    assert allowed is (level <= ceiling and mode in modes)
