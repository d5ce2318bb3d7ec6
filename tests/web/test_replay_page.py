"""The replay page and the event page's tracks, in process: a labelled, keyboard-reachable
slider in the reader's language, and a clear refusal for a replay that names nothing."""

from __future__ import annotations

from harness.web import Web


def test_the_replay_page_has_a_labelled_slider_in_the_readers_language(web: Web) -> None:
    page = web.signed_in("kor-analyst", language="ko").get("/ui/tracks/replay?event=ev-1")
    assert page.status_code == 200
    html = page.text
    assert '<label for="replay-time">재생 시각</label>' in html
    assert '<input type="range" id="replay-time"' in html
    assert 'id="replay-play" aria-pressed="false"' in html
    assert 'data-event="ev-1"' in html
    assert "/ui/static/replay.js" in html


def test_a_replay_naming_neither_an_event_nor_a_window_is_refused(web: Web) -> None:
    analyst = web.signed_in("usa-analyst")
    assert analyst.get("/ui/tracks/replay").status_code == 422
    assert analyst.get("/ui/tracks/replay?event=../x").status_code in (400, 422)
    window = analyst.get("/ui/tracks/replay?from_ms=0&to_ms=60000")
    assert window.status_code == 200
    assert 'data-from="0"' in window.text


def test_the_event_page_holds_its_tracks_and_replay_link(web: Web) -> None:
    html = web.signed_in("jpn-analyst", language="ja").get("/ui/events/ev-1").text
    assert 'id="event-tracks"' in html
    assert 'href="/ui/tracks/replay?event=ev-1"' in html
    assert "この事案を再生" in html


def test_the_tracks_page_has_a_column_for_each_fused_tracks_event(web: Web) -> None:
    html = web.signed_in("usa-analyst").get("/ui/tracks").text
    assert '<th scope="col">Event</th>' in html
