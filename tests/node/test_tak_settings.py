"""A node's [tak] table: where its fused tracks go as Cursor-on-Target, and every way it can
be wrong, each said plainly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w

from tisa.domain.markings import Classification
from tisa.errors import ConfigInvalid
from tisa.node.settings import Settings, init_node

GOOD = {
    "url": "tls://127.0.0.1:8089",
    "cert": "keys/tak.crt",
    "key": "keys/tak.key",
    "ca": "/etc/tak/ca.pem",
    "clearance": "SECRET",
}


def _node(tmp_path: Path, tak: object | None = None) -> Path:
    root = tmp_path / "kor"
    init_node(
        root,
        "KOR",
        host="127.0.0.1",
        federation_port=1,
        api_port=2,
        now=datetime(2026, 11, 28, tzinfo=UTC),
    )
    if tak is not None:
        config = root / "node.toml"
        text = config.read_text() + "\n" + tomli_w.dumps({"tak": tak})
        config.write_text(text)
    return root


def test_no_tak_table_means_no_tak(tmp_path: Path) -> None:
    assert Settings.load(_node(tmp_path), env={}).tak is None


def test_a_tak_table_names_the_endpoint_its_files_and_its_clearance(tmp_path: Path) -> None:
    root = _node(tmp_path, GOOD)

    tak = Settings.load(root, env={}).tak

    assert tak is not None
    assert (tak.host, tak.port, tak.url) == ("127.0.0.1", 8089, "tls://127.0.0.1:8089")
    assert tak.cert == root / "keys" / "tak.crt"  # relative to the node directory
    assert tak.ca == Path("/etc/tak/ca.pem")
    assert tak.clearance is Classification.SECRET


def test_the_environment_overrides_the_tak_table(tmp_path: Path) -> None:
    root = _node(tmp_path, GOOD)

    tak = Settings.load(
        root, env={"TISA_TAK_URL": "tls://[::1]:9000", "TISA_TAK_CLEARANCE": "TOP SECRET"}
    ).tak

    assert tak is not None
    assert (tak.host, tak.port, tak.url) == ("::1", 9000, "tls://[::1]:9000")
    assert tak.clearance is Classification.TOP_SECRET


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"url": "tcp://127.0.0.1:8087"}, "over TLS only, not 'tcp'"),
        ({"url": "ssl://127.0.0.1:8089"}, "over TLS only"),
        ({"url": "tls://127.0.0.1"}, "with a host and a port"),
        ({"url": "tls://:8089"}, "with a host and a port"),
        ({"url": "tls://127.0.0.1:0"}, "with a host and a port"),
        ({"url": "tls://127.0.0.1:70000"}, "must be tls://host:port"),
        ({"url": "tls://127.0.0.1:http"}, "must be tls://host:port"),
        ({"url": "tls://127.0.0.1:8089/stream"}, "nothing more"),
        ({"url": "127.0.0.1:8089"}, "must be tls://host:port"),
        ({"cert": ""}, "cert must be a non-empty string"),
        ({"key": 7}, "key must be a non-empty string"),
        ({"clearance": "secret"}, "clearance: unknown classification 'secret'"),
        ({"verify": False}, "unknown keys verify"),
    ],
)
def test_a_bad_tak_table_is_refused_and_named(
    tmp_path: Path, change: dict[str, object], says: str
) -> None:
    root = _node(tmp_path, {**GOOD, **change})

    with pytest.raises(ConfigInvalid, match=r"node\.toml: \[tak\]") as refused:
        Settings.load(root, env={})

    assert says in refused.value.reason


def test_a_tak_table_missing_what_it_needs_names_each_missing_key(tmp_path: Path) -> None:
    root = _node(tmp_path, {"url": GOOD["url"]})

    with pytest.raises(ConfigInvalid, match=r"\[tak\] lacks cert, key, ca, clearance"):
        Settings.load(root, env={})


def test_the_environment_alone_can_configure_tak_but_not_half_of_it(tmp_path: Path) -> None:
    root = _node(tmp_path)
    env = {f"TISA_TAK_{k.upper()}": v for k, v in GOOD.items()}

    assert Settings.load(root, env=env).tak is not None
    with pytest.raises(ConfigInvalid, match=r"\[tak\] lacks key"):
        Settings.load(root, env={k: v for k, v in env.items() if k != "TISA_TAK_KEY"})


def test_a_tak_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    root = _node(tmp_path)
    config = root / "node.toml"
    config.write_text('tak = "tls://127.0.0.1:8089"\n' + config.read_text())

    with pytest.raises(ConfigInvalid, match=r"tak must be a table"):
        Settings.load(root, env={})
