"""The key-encryption key's file: created once, mode 0600, read back only when private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tisa.blobs import keyfile
from tisa.errors import ConfigInvalid, Conflict

# -- key file -------------------------------------------------------------------------------------


def test_key_file(tmp_path: Path) -> None:
    path = tmp_path / "blob.kek"
    key = keyfile.create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyfile.load_key(path) == key
    with pytest.raises(Conflict):
        keyfile.create_key(path)
    assert keyfile.load_key(path) == key
    path.chmod(0o640)
    with pytest.raises(ConfigInvalid, match="chmod 600"):
        keyfile.load_key(path)
    short = tmp_path / "short.kek"
    short.write_bytes(b"k" * 31)
    short.chmod(0o600)
    with pytest.raises(ConfigInvalid, match="32-byte"):
        keyfile.load_key(short)
    with pytest.raises(ConfigInvalid):
        keyfile.load_key(tmp_path / "missing")
