"""Canonical JSON (RFC 8785) and content digests.

Signed payloads are canonical so that one meaning has exactly one byte string, and a digest
over those bytes names the content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import rfc8785

from tisa.errors import InputInvalid


def _plain(value: Any) -> Any:
    # rfc8785 only knows dict, list and tuple; callers may hand us other Mappings
    # (MappingProxyType, frozen views), so turn those into dicts before serialising.
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


_SAFE_INT = 2**53 - 1
# Where Python's repr of a non-integral double has no exponent (see `_simple`).
_FLOAT_FROM, _FLOAT_UNTIL = 1e-4, 1e16


class _NotSimple(Exception):
    """The value needs the full RFC 8785 serialiser."""


def _simple(value: Any) -> Any:
    # The domain where RFC 8785 and the standard library's sorted, compact json.dumps write
    # the same bytes: integers within ±(2**53 - 1), floats where repr is ECMAScript's form
    # (below), and ASCII keys (sorting by UTF-16 code units equals sorting by code points).
    # Strings escape alike: only '"', '\\' and controls, in lowercase \u00xx.
    if value is None or value is True or value is False or isinstance(value, str):
        return value
    if isinstance(value, int):
        if -_SAFE_INT <= value <= _SAFE_INT:
            return value
        raise _NotSimple
    if isinstance(value, float):
        # Both write the shortest round-tripping digits; they differ only in form. An
        # integral double is written as bare digits (repr adds ".0"), and repr switches to
        # exponent notation outside [1e-4, 1e16) where ECMAScript does not: tracks and
        # measured figures are nearly all inside, and what is not takes the full path.
        if value.is_integer():
            if -_SAFE_INT <= value <= _SAFE_INT:
                return int(value)
        elif _FLOAT_FROM <= abs(value) < _FLOAT_UNTIL:
            return value
        raise _NotSimple
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not (isinstance(key, str) and key.isascii()):
                raise _NotSimple
            out[key] = _simple(item)
        return out
    if isinstance(value, list | tuple):
        return [_simple(item) for item in value]
    raise _NotSimple


def canonical_json(obj: Mapping[str, Any]) -> bytes:
    """Serialise `obj` as RFC 8785 canonical JSON (UTF-8 bytes).

    Raises:
        InputInvalid: `obj` holds something JSON cannot carry canonically: NaN or infinite
            floats, integers beyond ±(2**53 - 1), non-string keys, lone surrogates,
            unsupported types, or nesting too deep to walk.
    """
    try:
        # Most of what tisa signs and hashes (audit entries, manifests without measured
        # values) is in the simple domain; the C encoder is many times faster there.
        text = json.dumps(_simple(obj), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return text.encode("utf-8")
    except (_NotSimple, UnicodeEncodeError, RecursionError):
        pass
    try:
        return bytes(rfc8785.dumps(_plain(obj)))
    except rfc8785.CanonicalizationError as exc:
        raise InputInvalid(f"not representable as canonical JSON: {exc}") from exc
    except UnicodeError as exc:
        # Raised (not wrapped) by rfc8785 when sorting a key that holds a lone surrogate.
        raise InputInvalid("not representable as canonical JSON: key is not valid UTF-16") from exc
    except RecursionError as exc:
        raise InputInvalid("not representable as canonical JSON: nested too deeply") from exc


def sha256_digest(data: bytes) -> str:
    """Return the digest of `data` as ``"sha256:<lowercase hex>"``. Raises nothing."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
