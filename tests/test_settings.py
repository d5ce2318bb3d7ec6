"""Node directories: init, pinning, loading settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tisa.arrangement import parse_arrangement
from tisa.errors import ArrangementInvalid, ConfigInvalid
from tisa.settings import (
    Settings,
    default_arrangement_text,
    init_node,
    load_arrangement,
    pin_arrangement,
    set_peer,
)

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def _init(tmp_path: Path, party: str) -> dict[str, object]:
    return init_node(
        tmp_path / party.lower(), party, host="127.0.0.1", federation_port=1, api_port=2, now=NOW
    )


def test_init_writes_private_keys_readable_only_by_the_owner(tmp_path: Path) -> None:
    card = _init(tmp_path, "KOR")
    root = tmp_path / "kor"
    assert (root / "keys" / "signing.pem").stat().st_mode & 0o077 == 0
    assert (root / "keys" / "tls.key").stat().st_mode & 0o077 == 0
    assert card["party"] == "KOR"
    assert json.loads((root / "card.json").read_text()) == card


def test_init_refuses_a_directory_that_holds_a_node(tmp_path: Path) -> None:
    _init(tmp_path, "KOR")
    with pytest.raises(ConfigInvalid, match="already holds a node"):
        _init(tmp_path, "KOR")


def test_pinning_every_card_makes_a_pinned_arrangement(tmp_path: Path) -> None:
    cards = [_init(tmp_path, p) for p in ("USA", "KOR", "JPN")]
    text = pin_arrangement(default_arrangement_text(), cards)
    arrangement = parse_arrangement(text, source="pinned")
    assert arrangement.pinned
    assert arrangement.party("KOR").signing_key == cards[1]["signing_key"]
    unpinned = parse_arrangement(default_arrangement_text(), source="shipped")
    assert not unpinned.pinned
    assert unpinned.digest != arrangement.digest


def test_a_card_of_a_stranger_is_refused(tmp_path: Path) -> None:
    card = _init(tmp_path, "GBR")
    with pytest.raises(ArrangementInvalid, match="GBR"):
        pin_arrangement(default_arrangement_text(), [card])


def test_settings_come_from_overrides_then_env_then_file(tmp_path: Path) -> None:
    _init(tmp_path, "KOR")
    root = tmp_path / "kor"
    set_peer(root, "USA", "https://127.0.0.1:9")
    plain = Settings.load(root, env={})
    assert plain.party == "KOR"
    assert plain.federation_port == 1
    assert plain.database_url.startswith("sqlite:///")
    assert plain.peers == {"USA": "https://127.0.0.1:9"}
    from_env = Settings.load(root, env={"TISA_DATABASE": "postgresql+psycopg://x/y"})
    assert from_env.database_url == "postgresql+psycopg://x/y"
    overridden = Settings.load(root, env={"TISA_DATABASE": "a"}, database="b")
    assert overridden.database_url == "b"


def test_missing_node_and_bad_peer_urls_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="run `tisa init`"):
        Settings.load(tmp_path / "nowhere", env={})
    _init(tmp_path, "KOR")
    with pytest.raises(ConfigInvalid, match="https://"):
        set_peer(tmp_path / "kor", "USA", "http://127.0.0.1:9")


def test_an_unreadable_arrangement_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ArrangementInvalid, match=r"missing\.toml"):
        load_arrangement(tmp_path / "missing.toml")
