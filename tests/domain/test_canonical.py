"""Tests for tisa.domain.canonical."""

from __future__ import annotations

import hashlib
from types import MappingProxyType
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.domain.canonical import canonical_json, sha256_digest
from tisa.errors import InputInvalid


def test_keys_sorted_and_no_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "x"]}) == b'{"a":[true,null,"x"],"b":1}'


def test_rfc8785_number_and_string_forms() -> None:
    assert (
        canonical_json({"n": 1.0, "m": 1e21, "s": "é\n"}) == b'{"m":1e+21,"n":1,"s":"\xc3\xa9\\n"}'
    )


def test_accepts_any_mapping_nested() -> None:
    inner = MappingProxyType({"z": 1, "y": (2, 3)})
    assert canonical_json(MappingProxyType({"k": inner})) == b'{"k":{"y":[2,3],"z":1}}'


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        ({"a": float("nan")}, "not representable"),
        ({"a": float("inf")}, "not representable"),
        ({1: "x"}, "keys must be strings"),
        ({"a": 2**53}, "safe integer"),
        ({"a": object()}, "unsupported type"),
        ({"\ud800": 1}, "UTF-16"),
        ({"a": "\ud800"}, "UTF-8"),
    ],
)
def test_unrepresentable_input_is_input_invalid(obj: dict[Any, Any], words: str) -> None:
    with pytest.raises(InputInvalid, match=words):
        canonical_json(obj)


def test_deep_nesting_is_input_invalid() -> None:
    deep: Any = {}
    for _ in range(100_000):
        deep = {"a": deep}
    with pytest.raises(InputInvalid, match="nested too deeply"):
        canonical_json(deep)


def test_sha256_digest_form() -> None:
    assert sha256_digest(b"abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    assert sha256_digest(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


# The fast path (json.dumps in the simple domain) must write exactly what RFC 8785 writes.
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(st.dictionaries(st.text(max_size=6), _json_values, max_size=5))
def test_fast_path_writes_the_same_bytes_as_rfc8785(obj: dict[str, object]) -> None:
    try:
        expected = rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, UnicodeError):
        with pytest.raises(InputInvalid):
            canonical_json(obj)
        return
    assert canonical_json(obj) == expected


@settings(max_examples=2000)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_write_what_rfc8785_writes(value: float) -> None:
    # Floats take the fast path only where repr is ECMAScript's form; everywhere the bytes
    # must be RFC 8785's, at the edges of that range too.
    assert canonical_json({"x": value, "y": [value, -value]}) == rfc8785.dumps(
        {"x": value, "y": [value, -value]}
    )


@pytest.mark.parametrize(
    "value",
    [
        1e-4,
        9.999999999999999e-05,
        1e16,
        9999999999999998.0,
        1e21,
        1e-7,
        0.1,
        -0.0,
        2.0**53,
        2.0**53 + 2,
        123.456,
        5e-324,
        1.7976931348623157e308,
    ],
)
def test_float_edges_write_what_rfc8785_writes(value: float) -> None:
    assert canonical_json({"v": value}) == rfc8785.dumps({"v": value})
