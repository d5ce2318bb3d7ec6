"""A node's settings and data directory: where its keys, config, arrangement and data live.

This is an edge module: it reads the environment and files. Settings come from the
environment (prefix TISA_), then the node's `node.toml`, then defaults.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from tisa.blobs import keyfile
from tisa.crypto.certs import make_tls_identity
from tisa.crypto.keys import SigningKey
from tisa.domain.arrangement import Arrangement, parse_arrangement
from tisa.domain.markings import Classification
from tisa.errors import ArrangementInvalid, ConfigInvalid, MarkingInvalid, NotFound

DISK_RESERVE_MB = 256

NODE_FILE = "node.toml"
ARRANGEMENT_FILE = "arrangement.toml"
CARD_FILE = "card.json"


def default_arrangement_text() -> str:
    """The shipped arrangement (unpinned)."""
    return (resources.files("tisa") / "data" / "arrangement.toml").read_text(encoding="utf-8")


def load_arrangement(path: Path) -> Arrangement:
    """Read and validate an arrangement file.

    Raises:
        ArrangementInvalid: unreadable, or invalid (the reason names the file and entry).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ArrangementInvalid(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_arrangement(text, source=str(path))


@dataclass(frozen=True)
class NodePaths:
    """The files of one node's data directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / NODE_FILE

    @property
    def arrangement(self) -> Path:
        return self.root / ARRANGEMENT_FILE

    @property
    def card(self) -> Path:
        return self.root / CARD_FILE

    @property
    def signing_key(self) -> Path:
        return self.root / "keys" / "signing.pem"

    @property
    def tls_key(self) -> Path:
        return self.root / "keys" / "tls.key"

    @property
    def tls_cert(self) -> Path:
        return self.root / "keys" / "tls.crt"

    @property
    def trust_bundle(self) -> Path:
        return self.root / "keys" / "peers.pem"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def blob_key(self) -> Path:
        return self.root / "keys" / "blob.key"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def sqlite_url(self) -> str:
        return f"sqlite:///{(self.root / 'tisa.db').resolve()}"


#: The keys of node.toml's [tak] table (each also TISA_TAK_<KEY> in the environment).
TAK_KEYS = ("url", "cert", "key", "ca", "clearance")


@dataclass(frozen=True)
class TakSettings:
    """Where this node publishes its fused tracks as Cursor-on-Target: a TAK server or client
    at `host`:`port`, over TLS with this client certificate and key, the server's certificate
    verified against `ca` and its name against `host`; `clearance` is the highest level the
    TAK network may display (the TAK endpoint watches as a reader of that clearance)."""

    host: str
    port: int
    cert: Path
    key: Path
    ca: Path
    clearance: Classification

    @property
    def url(self) -> str:
        """'tls://host:port'."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tls://{host}:{self.port}"


def parse_tak(table: Mapping[str, Any], root: Path, *, source: str) -> TakSettings:
    """The [tak] table of a node's config (`source` names it in errors); relative paths are
    taken from the node directory `root`.

    Raises:
        ConfigInvalid: an unknown or missing key, a URL that is not tls://host:port, a path
            that is not a non-empty string, or a clearance that is not a common level.
    """
    unknown = sorted(set(table) - set(TAK_KEYS))
    if unknown:
        raise ConfigInvalid(
            f"{source}: [tak] has unknown keys {', '.join(unknown)}; expected {', '.join(TAK_KEYS)}"
        )
    missing = [key for key in TAK_KEYS if key not in table]
    if missing:
        raise ConfigInvalid(f"{source}: [tak] lacks {', '.join(missing)}")
    for key in TAK_KEYS:
        if not isinstance(table[key], str) or not table[key].strip():
            raise ConfigInvalid(f"{source}: [tak] {key} must be a non-empty string")
    host, port = _tak_address(table["url"], source)
    try:
        clearance = Classification.parse(table["clearance"])
    except MarkingInvalid as exc:
        raise ConfigInvalid(f"{source}: [tak] clearance: {exc.reason}") from exc
    cert, key, ca = (root / table[name] for name in ("cert", "key", "ca"))
    return TakSettings(host, port, cert, key, ca, clearance)


def _tak_address(url: str, source: str) -> tuple[str, int]:
    """(host, port) of 'tls://host:port'.

    Raises:
        ConfigInvalid: another scheme, no host or port, a port out of range, or anything
            after the port.
    """
    shape = f"{source}: [tak] url {url!r} must be tls://host:port"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigInvalid(f"{shape} ({exc})") from exc
    if parts.scheme != "tls":
        raise ConfigInvalid(f"{shape}: TAK is reached over TLS only, not {parts.scheme!r}")
    if not parts.hostname or port is None or port == 0:
        raise ConfigInvalid(f"{shape} with a host and a port in 1..65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigInvalid(f"{shape}, nothing more")
    return parts.hostname, port


@dataclass(frozen=True)
class Settings:
    """One node's settings, frozen; built by `Settings.load`."""

    paths: NodePaths
    party: str
    host: str
    federation_port: int
    api_port: int
    database_url: str
    peers: Mapping[str, str] = field(default_factory=dict)
    # Plain-HTTP /metrics on 127.0.0.1 only, for a scraper on the node's own machine.
    metrics_port: int | None = None
    # Free disk kept for the store: attachments may not take it, envelopes (FLASH) still fit.
    disk_reserve_mb: int = DISK_RESERVE_MB
    # [warnings] webhook: an https:// endpoint each missile warning change is POSTed to, its
    # certificate verified against webhook_ca (else the system's roots).
    warning_webhook: str | None = None
    warning_webhook_ca: Path | None = None
    warning_webhook_clearance: Classification = Classification.CONFIDENTIAL
    # Where fused tracks go as Cursor-on-Target; None: nowhere.
    tak: TakSettings | None = None

    @classmethod
    def load(cls, root: Path, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings for the node in `root`: overrides, then TISA_* environment, then node.toml.

        Raises:
            ConfigInvalid: no node.toml, a value of the wrong kind, or a [tak] table (or
                TISA_TAK_* variables) that does not hold together.
        """
        env = os.environ if env is None else env
        paths = NodePaths(root)
        data = _read_config(paths)

        def pick(key: str, default: Any = None) -> Any:
            if overrides.get(key) is not None:
                return overrides[key]
            env_key = f"TISA_{key.upper()}"
            if env_key in env:
                return env[env_key]
            return data.get(key, default)

        try:
            peers = data.get("peers", {})
            if not isinstance(peers, dict) or not all(
                isinstance(v, str) and v.startswith("https://") for v in peers.values()
            ):
                raise ConfigInvalid(f"{paths.config}: [peers] maps party codes to https:// URLs")
            return cls(
                paths=paths,
                party=str(data["party"]),
                host=str(pick("host", "127.0.0.1")),
                federation_port=int(pick("federation_port")),
                api_port=int(pick("api_port")),
                database_url=str(pick("database") or paths.sqlite_url()),
                peers=dict(peers),
                metrics_port=_port_or_none(pick("metrics_port")),
                disk_reserve_mb=int(pick("disk_reserve_mb", DISK_RESERVE_MB)),
                **_webhook(paths, data.get("warnings", {})),
                tak=_tak_of(data.get("tak"), env, paths),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigInvalid(f"{paths.config}: missing or malformed {exc}") from exc

    @property
    def federation_url(self) -> str:
        return f"https://{self.host}:{self.federation_port}"

    @property
    def api_url(self) -> str:
        return f"https://{self.host}:{self.api_port}"


def _webhook(paths: NodePaths, table: Any) -> dict[str, Any]:
    """The [warnings] table: an https:// webhook, the highest classification its endpoint may
    receive (`clearance`, required with a webhook), and optionally the CA file (relative to
    the node's folder) its certificate is checked against.

    Raises:
        ConfigInvalid: not a table, a webhook that is not https://, a webhook without a
            clearance or with one that is not a common level, or a CA file that is not there.
    """
    keys = {"webhook", "webhook_ca", "clearance"}
    if not isinstance(table, dict) or not set(table) <= keys:
        raise ConfigInvalid(
            f"{paths.config}: [warnings] holds webhook, webhook_ca and clearance only"
        )
    url, ca, clearance = table.get("webhook"), table.get("webhook_ca"), table.get("clearance")
    if url is None:
        if ca is not None or clearance is not None:
            raise ConfigInvalid(
                f"{paths.config}: [warnings] webhook_ca or clearance without a webhook"
            )
        return {}
    if not isinstance(url, str) or not url.startswith("https://") or len(url) <= 8:
        raise ConfigInvalid(
            f"{paths.config}: [warnings] webhook must be an https:// URL (warnings are not "
            f"sent in the clear), not {url!r}"
        )
    if not isinstance(clearance, str):
        raise ConfigInvalid(
            f"{paths.config}: [warnings] clearance: the highest level the webhook's endpoint "
            "may receive (CONFIDENTIAL, SECRET or TOP SECRET) is required with a webhook"
        )
    try:
        level = Classification.parse(clearance)
    except MarkingInvalid as exc:
        raise ConfigInvalid(f"{paths.config}: [warnings] clearance: {exc.reason}") from exc
    ca_path = None
    if ca is not None:
        ca_path = paths.root / str(ca)
        if not ca_path.is_file():
            raise ConfigInvalid(f"{paths.config}: [warnings] webhook_ca {ca_path} is not a file")
    return {
        "warning_webhook": url,
        "warning_webhook_ca": ca_path,
        "warning_webhook_clearance": level,
    }


def _tak_of(table: Any, env: Mapping[str, str], paths: NodePaths) -> TakSettings | None:
    """The [tak] table with TISA_TAK_<KEY> over it; None when neither says anything.

    Raises:
        ConfigInvalid: as `parse_tak`, or a [tak] that is not a table.
    """
    if table is not None and not isinstance(table, dict):
        raise ConfigInvalid(f"{paths.config}: tak must be a table ([tak])")
    merged = dict(table or {})
    for key in TAK_KEYS:
        if f"TISA_TAK_{key.upper()}" in env:
            merged[key] = env[f"TISA_TAK_{key.upper()}"]
    if not merged:
        return None
    return parse_tak(merged, paths.root, source=str(paths.config))


def _port_or_none(value: Any) -> int | None:
    if value in (None, "", 0, "0"):
        return None
    port = int(value)
    if not 0 < port < 65536:
        raise ValueError(f"metrics_port {port} is not a TCP port")
    return port


def init_node(
    root: Path,
    party: str,
    *,
    host: str,
    federation_port: int,
    api_port: int,
    now: datetime,
    database: str | None = None,
) -> dict[str, Any]:
    """Create a node's data directory: its own signing key, TLS key and certificate, config,
    and its public card (what the other parties pin). Returns the card.

    Raises:
        ConfigInvalid: the directory already holds a node, or a value is unusable.
    """
    paths = NodePaths(root)
    if paths.config.exists():
        raise ConfigInvalid(f"{root} already holds a node ({paths.config} exists)")
    (root / "keys").mkdir(parents=True, exist_ok=True)
    paths.blobs.mkdir(exist_ok=True)
    signing = SigningKey.generate()
    key_pem, cert_pem = make_tls_identity(party, ("localhost", host), now=now)
    _write_secret(paths.signing_key, signing.to_pem())
    _write_tls_identity(paths, key_pem, cert_pem)
    keyfile.create_key(paths.blob_key)
    config: dict[str, Any] = {
        "party": party,
        "host": host,
        "federation_port": federation_port,
        "api_port": api_port,
        "peers": {},
    }
    if database:
        config["database"] = database
    paths.config.write_text(tomli_w.dumps(config), encoding="utf-8")
    return _write_card(paths, party, signing, cert_pem)


def rotate_tls(root: Path, *, now: datetime) -> dict[str, Any]:
    """Give an existing node a new TLS key and (leaf) certificate, for the hosts its config
    names, and rewrite its public card; its signing key, config and data stay. The previous
    key and certificate are kept beside the new ones, renamed with `now`. Returns the card.

    The node then starts only once the arrangement pins the new certificate (every party
    re-pins it: `tisa arrangement pin`).

    Raises:
        ConfigInvalid: no node here, its config or signing key cannot be read, or no
            certificate can be made (a naive `now`, an unusable host).
        OSError: a key or certificate file cannot be renamed or written.
    """
    settings = Settings.load(root, env={})
    paths = settings.paths
    try:
        signing = SigningKey.from_pem(paths.signing_key.read_bytes())
    except OSError as exc:
        raise ConfigInvalid(f"{paths.signing_key}: {exc.strerror}") from exc
    # Made before anything is moved: a bad `now` or host leaves the node as it was.
    key_pem, cert_pem = make_tls_identity(settings.party, ("localhost", settings.host), now=now)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for current in (paths.tls_key, paths.tls_cert):
        if current.exists():
            current.rename(current.with_name(f"{current.name}.replaced-{stamp}"))
    _write_tls_identity(paths, key_pem, cert_pem)
    return _write_card(paths, settings.party, signing, cert_pem)


def _write_tls_identity(paths: NodePaths, key_pem: bytes, cert_pem: bytes) -> None:
    _write_secret(paths.tls_key, key_pem)
    paths.tls_cert.write_bytes(cert_pem)


def _write_card(
    paths: NodePaths, party: str, signing: SigningKey, cert_pem: bytes
) -> dict[str, Any]:
    """Write the node's public card (what the other parties pin); the card."""
    card = {
        "party": party,
        "signing_key": signing.public().to_jwk(),
        "tls_certificate": cert_pem.decode("ascii"),
    }
    paths.card.write_text(json.dumps(card, indent=2), encoding="utf-8")
    return card


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def pin_arrangement(base_text: str, cards: Sequence[Mapping[str, Any]]) -> str:
    """The arrangement TOML with each card's signing key and TLS certificate pinned.

    Raises:
        ArrangementInvalid: a card names no party of the arrangement, or the result is invalid.
    """
    data = tomllib.loads(base_text)
    by_code = {entry["code"]: entry for entry in data.get("party", [])}
    for card in cards:
        code = card.get("party")
        if code not in by_code:
            raise ArrangementInvalid(f"card for {code!r}: not a party of the arrangement")
        by_code[code]["signing_key"] = dict(card["signing_key"])
        by_code[code]["tls_certificate"] = str(card["tls_certificate"])
    text = "# Pinned by `tisa arrangement pin`: identical at every node.\n" + tomli_w.dumps(
        data, multiline_strings=True
    )
    parse_arrangement(text, source="pinned arrangement")
    return text


def set_peer(root: Path, party: str, url: str) -> None:
    """Record where a peer's federation endpoint listens.

    Raises:
        ConfigInvalid: no node here, or the URL is not https://.
    """
    if not url.startswith("https://"):
        raise ConfigInvalid(f"peer URL {url!r} must be https://")
    paths = NodePaths(root)
    data = _read_config(paths)
    data.setdefault("peers", {})[party] = url
    paths.config.write_text(tomli_w.dumps(data), encoding="utf-8")


def _read_config(paths: NodePaths) -> dict[str, Any]:
    """The node's node.toml.

    Raises:
        ConfigInvalid: no node.toml here, or not valid TOML.
    """
    try:
        return tomllib.loads(paths.config.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigInvalid(
            f"{paths.config}: cannot read ({exc.strerror}); run `tisa init`"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(f"{paths.config}: not valid TOML: {exc}") from exc


def remove_peer(root: Path, party: str) -> str:
    """Forget where a peer listens; returns the URL that was recorded.

    Raises:
        ConfigInvalid: no node here.
        NotFound: the node records no address for `party`.
    """
    paths = NodePaths(root)
    data = _read_config(paths)
    peers = data.get("peers", {})
    if party not in peers:
        known = ", ".join(sorted(peers)) or "none"
        raise NotFound(f"{paths.config} records no peer {party} (peers: {known})")
    url = str(peers.pop(party))
    paths.config.write_text(tomli_w.dumps(data), encoding="utf-8")
    return url
