"""Signing as a node and verifying against the arrangement's pins only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tisa.crypto import jws
from tisa.crypto.keys import SigningKey
from tisa.crypto.trust import Signed, Trust
from tisa.domain.arrangement import Arrangement, parse_arrangement
from tisa.errors import ConfigInvalid, SignatureInvalid
from tisa.node.settings import NodePaths, default_arrangement_text, init_node, pin_arrangement

NOW = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[Arrangement, dict[str, SigningKey]]:
    base = tmp_path_factory.mktemp("trust")
    cards, keys = [], {}
    for party in ("USA", "KOR", "JPN"):
        root = base / party
        cards.append(
            init_node(root, party, host="127.0.0.1", federation_port=1, api_port=2, now=NOW)
        )
        keys[party] = SigningKey.from_pem(NodePaths(root).signing_key.read_bytes())
    text = pin_arrangement(default_arrangement_text(), cards)
    return parse_arrangement(text, source="pinned"), keys


def test_a_node_verifies_what_a_peer_signed(
    network: tuple[Arrangement, dict[str, SigningKey]],
) -> None:
    arrangement, keys = network
    kor = Trust(arrangement, "KOR", keys["KOR"])
    usa = Trust(arrangement, "USA", keys["USA"])
    token = kor.sign(Signed.RECEIPT, {"type": "receipt", "n": 1})
    assert usa.verify(Signed.RECEIPT, token, signer="KOR") == {"type": "receipt", "n": 1}


def test_a_signature_for_one_purpose_is_not_valid_for_another(
    network: tuple[Arrangement, dict[str, SigningKey]],
) -> None:
    arrangement, keys = network
    kor = Trust(arrangement, "KOR", keys["KOR"])
    token = kor.sign(Signed.RECEIPT, {"type": "receipt"})
    with pytest.raises(SignatureInvalid, match="typ"):
        kor.verify(Signed.CONSENT, token, signer="KOR")


def test_another_partys_key_does_not_pass_for_the_signer(
    network: tuple[Arrangement, dict[str, SigningKey]],
) -> None:
    arrangement, keys = network
    jpn = Trust(arrangement, "JPN", keys["JPN"])
    token = jpn.sign(Signed.CONSENT, {"type": "consent"})
    with pytest.raises(SignatureInvalid, match="consent from KOR"):
        jpn.verify(Signed.CONSENT, token, signer="KOR")
    forged = jws.sign(
        {"type": "consent"}, SigningKey.generate(), kid=jpn.kid("KOR"), typ=Signed.CONSENT.value
    )
    with pytest.raises(SignatureInvalid):
        jpn.verify(Signed.CONSENT, forged, signer="KOR")
    with pytest.raises(SignatureInvalid, match="not a party"):
        jpn.verify(Signed.CONSENT, token, signer="GBR")


def test_a_node_refuses_to_run_with_a_key_the_arrangement_does_not_pin(
    network: tuple[Arrangement, dict[str, SigningKey]],
) -> None:
    arrangement, keys = network
    with pytest.raises(ConfigInvalid, match="not the one"):
        Trust(arrangement, "KOR", keys["JPN"])
    unpinned = parse_arrangement(default_arrangement_text(), source="shipped")
    with pytest.raises(ConfigInvalid, match="no pinned signing key"):
        Trust(unpinned, "KOR", keys["KOR"])


def test_claimed_refuses_tokens_naming_no_party(
    network: tuple[Arrangement, dict[str, SigningKey]], tmp_path: Path
) -> None:
    arrangement, keys = network
    kor = Trust(arrangement, "KOR", keys["KOR"])
    token = kor.sign(Signed.RECALL, {"originator": "XXX"})
    with pytest.raises(SignatureInvalid, match="no known party"):
        kor.claimed(token, "originator")
    assert kor.claimed(kor.sign(Signed.RECALL, {"originator": "KOR"}), "originator") == "KOR"
