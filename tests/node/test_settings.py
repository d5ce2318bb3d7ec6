"""Node directories: init, pinning, loading settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from harness.factories import legacy_tls_identity

from tisa.crypto.certs import is_ca, load_cert
from tisa.domain.arrangement import parse_arrangement
from tisa.domain.markings import Classification
from tisa.errors import ArrangementInvalid, ConfigInvalid
from tisa.node.settings import (
    NodePaths,
    Settings,
    default_arrangement_text,
    init_node,
    load_arrangement,
    pin_arrangement,
    rotate_tls,
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


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ('webhook = "http://127.0.0.1:9/w"', "must be an https:// URL"),
        ("webhook = 7", "must be an https:// URL"),
        ('webhook_ca = "ca.pem"', "webhook_ca or clearance without a webhook"),
        ('clearance = "SECRET"', "webhook_ca or clearance without a webhook"),
        (
            'webhook = "https://127.0.0.1:9/w"\nwebhook_ca = "absent.pem"\nclearance = "SECRET"',
            "is not a file",
        ),
        ('webhook = "https://127.0.0.1:9/w"', "clearance: the highest level"),
        ('webhook = "https://127.0.0.1:9/w"\nclearance = "secret"', "unknown classification"),
        ('hook = "https://127.0.0.1:9/w"', "holds webhook, webhook_ca and clearance only"),
    ],
)
def test_a_warning_webhook_is_https_with_a_ca_that_exists(
    tmp_path: Path, table: str, said: str
) -> None:
    _init(tmp_path, "JPN")
    root = tmp_path / "jpn"
    config = root / "node.toml"
    text = config.read_text(encoding="utf-8")
    assert Settings.load(root, env={}).warning_webhook is None
    (root / "ca.pem").write_text("a CA", encoding="utf-8")
    config.write_text(
        text + '\n[warnings]\nwebhook = "https://127.0.0.1:9/w"\nwebhook_ca = "ca.pem"\n'
        'clearance = "CONFIDENTIAL"\n',
        encoding="utf-8",
    )
    good = Settings.load(root, env={})
    assert (good.warning_webhook, good.warning_webhook_ca, good.warning_webhook_clearance) == (
        "https://127.0.0.1:9/w",
        root / "ca.pem",
        Classification.CONFIDENTIAL,
    )
    config.write_text(text + f"\n[warnings]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigInvalid, match=said):
        Settings.load(root, env={})


def test_an_unreadable_arrangement_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ArrangementInvalid, match=r"missing\.toml"):
        load_arrangement(tmp_path / "missing.toml")


def _as_before_leaf_identities(root: Path) -> tuple[bytes, bytes]:
    """Give the node in `root` a CA certificate, as tisa made them before leaf identities,
    and the card to match; (key_pem, cert_pem)."""
    paths = NodePaths(root)
    key_pem, cert_pem = legacy_tls_identity(Settings.load(root, env={}).party)
    paths.tls_key.write_bytes(key_pem)
    paths.tls_cert.write_bytes(cert_pem)
    card = json.loads(paths.card.read_text())
    paths.card.write_text(json.dumps({**card, "tls_certificate": cert_pem.decode()}))
    return key_pem, cert_pem


def test_rotate_tls_gives_a_node_a_leaf_certificate_and_keeps_the_rest(tmp_path: Path) -> None:
    _init(tmp_path, "KOR")
    root = tmp_path / "kor"
    paths = NodePaths(root)
    old_key, old_cert = _as_before_leaf_identities(root)
    signing, config = paths.signing_key.read_bytes(), paths.config.read_bytes()
    old_card = json.loads(paths.card.read_text())

    card = rotate_tls(root, now=NOW)

    new_cert = paths.tls_cert.read_bytes()
    assert not is_ca(new_cert)
    assert new_cert != old_cert
    assert paths.tls_key.read_bytes() != old_key
    assert paths.tls_key.stat().st_mode & 0o077 == 0
    key = serialization.load_pem_private_key(paths.tls_key.read_bytes(), password=None)
    assert key.public_key() == load_cert(new_cert).public_key()
    assert paths.signing_key.read_bytes() == signing
    assert paths.config.read_bytes() == config
    assert json.loads(paths.card.read_text()) == card
    assert card == {**old_card, "tls_certificate": new_cert.decode()}
    # The old pair stays beside the new one, named by when it was replaced.
    assert (root / "keys" / "tls.key.replaced-20261128T000000Z").read_bytes() == old_key
    assert (root / "keys" / "tls.crt.replaced-20261128T000000Z").read_bytes() == old_cert


def test_rotate_tls_refuses_what_is_not_a_node_and_moves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="tisa init"):
        rotate_tls(tmp_path / "nowhere", now=NOW)
    _init(tmp_path, "KOR")
    keys = tmp_path / "kor" / "keys"
    before = sorted(p.name for p in keys.iterdir())
    with pytest.raises(ConfigInvalid, match="timezone-aware"):
        rotate_tls(tmp_path / "kor", now=NOW.replace(tzinfo=None))
    assert sorted(p.name for p in keys.iterdir()) == before
