"""Tests for tisa.domain.arrangement: the shipped file, its digest, and every validation error."""

from __future__ import annotations

import pytest
from harness.factories import ARRANGEMENT_PATH, PARTIES, arrangement
from hypothesis import given
from hypothesis import strategies as st

from tisa.domain.arrangement import Arrangement, Channel, FusionWindows, is_topic, parse_arrangement
from tisa.domain.markings import Classification
from tisa.errors import ArrangementInvalid, InputInvalid, MarkingInvalid

SOURCE = "/etc/tisa/arrangement.toml"
TEXT = ARRANGEMENT_PATH.read_text(encoding="utf-8")


def _parse(text: str) -> Arrangement:
    return parse_arrangement(text, source=SOURCE)


def _edit(old: str, new: str, text: str = TEXT) -> str:
    """`text` with exactly one `old` replaced (fails loudly if the shipped file changed)."""
    assert text.count(old) == 1, f"{old!r} is not in the shipped arrangement exactly once"
    return text.replace(old, new)


def _invalid(text: str) -> str:
    with pytest.raises(ArrangementInvalid) as caught:
        _parse(text)
    reason = caught.value.reason
    assert reason.startswith(f"{SOURCE}: "), reason
    return reason


# --- the shipped file --------------------------------------------------------------------------


def test_shipped_arrangement_loads() -> None:
    a = arrangement()
    assert a.id == "tisa-2014"
    assert a.hub == "USA"
    assert tuple(a.parties) == PARTIES
    assert {p.language for p in a.parties.values()} == {"en", "ko", "ja"}
    assert [c.id for c in a.channels] == ["USA-KOR", "USA-JPN"]
    assert all(c.ceiling is Classification.SECRET for c in a.channels)
    assert "dprk.missile.launch" in a.scope
    assert "dprk.nuclear.test" in a.scope
    assert all(t.startswith(("dprk.missile.", "dprk.nuclear.")) for t in a.scope)
    assert a.source == str(ARRANGEMENT_PATH)
    assert a.digest.startswith("sha256:")
    assert len(a.digest) == len("sha256:") + 64


def test_shipped_arrangement_is_not_pinned_yet() -> None:
    a = arrangement()
    assert not a.pinned
    assert not any(p.pinned for p in a.parties.values())


def test_shipped_classification_table() -> None:
    a = arrangement()
    assert a.term("USA", Classification.TOP_SECRET) == "TOP SECRET"
    assert a.term("KOR", Classification.SECRET) == "군사Ⅱ급비밀"
    assert a.term("KOR", Classification.CONFIDENTIAL) == "군사Ⅲ급비밀"
    assert a.term("JPN", Classification.SECRET) == "極秘"
    assert a.term("JPN", Classification.TOP_SECRET) == "機密"


# --- digest --------------------------------------------------------------------------------------


def test_digest_is_stable_and_independent_of_the_source_name() -> None:
    assert _parse(TEXT).digest == _parse(TEXT).digest
    assert parse_arrangement(TEXT, source="elsewhere.toml").digest == _parse(TEXT).digest


@pytest.mark.parametrize(
    "text",
    [
        "# a new comment at the top\n\n" + TEXT,
        TEXT + "\n\n# trailing comment\n",
        _edit('hub = "USA"', 'hub   =   "USA"   # the relay'),
        # the same keys in another order inside a table
        _edit(
            'code = "KOR"\nname = "Republic of Korea"\nlanguage = "ko"',
            'language = "ko"\nname = "Republic of Korea"\ncode = "KOR"',
        ),
        TEXT.replace("\n", "\r\n"),
    ],
    ids=["leading-comment", "trailing-comment", "spacing", "key-order", "crlf"],
)
def test_digest_ignores_comments_whitespace_and_key_order(text: str) -> None:
    assert _parse(text).digest == arrangement().digest


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            'ceiling = "SECRET"\nbasis = "United States–Japan',
            'ceiling = "CONFIDENTIAL"\nbasis = "United States–Japan',
        ),
        (
            '"dprk.nuclear.site-activity",',
            '"dprk.nuclear.site-activity",\n  "dprk.nuclear.export",',
        ),
        ('name = "Japan"', 'name = "Nippon"'),
        ('signed = "2014-12-29"', 'signed = "2014-12-30"'),
        ('SECRET = "極秘"', 'SECRET = "特定秘密"'),
    ],
    ids=["ceiling", "scope", "party-name", "unvalidated-field", "term"],
)
def test_digest_changes_when_the_content_changes(old: str, new: str) -> None:
    assert _parse(_edit(old, new)).digest != arrangement().digest


# --- validation errors name the file and the entry ---------------------------------------------


def test_bad_toml() -> None:
    reason = _invalid(TEXT + "\n[arrangement\n")
    assert "not valid TOML" in reason


def test_empty_file() -> None:
    assert "[arrangement] is missing or not a table" in _invalid("")


def test_unknown_hub() -> None:
    reason = _invalid(_edit('hub = "USA"', 'hub = "GBR"'))
    assert "[arrangement]: hub GBR is not a listed party" in reason


def test_missing_hub() -> None:
    reason = _invalid(_edit('hub = "USA"\n', ""))
    assert "[arrangement]: 'hub' must be a non-empty string" in reason


def test_channel_to_an_unknown_party() -> None:
    reason = _invalid(_edit('parties = ["USA", "JPN"]', 'parties = ["USA", "CHN"]'))
    assert "channel[1]: CHN is not a listed party" in reason


def test_spoke_to_spoke_channel() -> None:
    text = TEXT + '\n[[channel]]\nparties = ["KOR", "JPN"]\nceiling = "SECRET"\nbasis = "GSOMIA"\n'
    reason = _invalid(text)
    assert "channel[2]: every channel must include the hub USA" in reason


def test_channel_listed_twice_in_either_order() -> None:
    text = TEXT + '\n[[channel]]\nparties = ["JPN", "USA"]\nceiling = "SECRET"\nbasis = "again"\n'
    assert "channel[2]: channel JPN–USA is listed twice" in _invalid(text)


def test_channel_to_itself() -> None:
    reason = _invalid(_edit('parties = ["USA", "KOR"]', 'parties = ["USA", "USA"]'))
    assert "channel[0]: a channel joins two different parties" in reason


@pytest.mark.parametrize("pair", ['["USA"]', '["USA", "KOR", "JPN"]', '"USA-KOR"', "[1, 2]"])
def test_channel_parties_must_be_two_names(pair: str) -> None:
    reason = _invalid(_edit('parties = ["USA", "KOR"]', f"parties = {pair}"))
    assert "channel[0]: 'parties' must name exactly two parties" in reason


def test_duplicate_party() -> None:
    text = _edit('code = "JPN"', 'code = "KOR"')
    assert "party[2]: party KOR is listed twice" in _invalid(text)


@pytest.mark.parametrize("code", ["kor", "ROKA", "K1R"])
def test_party_code_must_be_a_trigraph(code: str) -> None:
    reason = _invalid(_edit('code = "KOR"', f'code = "{code}"'))
    assert f"party[1]: {code!r} is not a country trigraph" in reason


def test_party_needs_a_name() -> None:
    reason = _invalid(_edit('name = "Japan"', 'name = "  "'))
    assert "party[2]: 'name' must be a non-empty string" in reason


def test_party_signing_key_must_be_a_table_of_strings() -> None:
    reason = _invalid(_edit('language = "ja"', 'language = "ja"\nsigning_key = {kty = 1}'))
    assert "party[2]: signing_key must be a JWK table of strings" in reason


def test_party_tls_certificate_must_be_pem() -> None:
    reason = _invalid(_edit('language = "ja"', 'language = "ja"\ntls_certificate = "MIIB..."'))
    assert "party[2]: tls_certificate must be a PEM certificate" in reason


def test_pinned_parties() -> None:
    pem = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
    pins = f'signing_key = {{kty = "OKP", crv = "Ed25519", x = "abc"}}\ntls_certificate = "{pem}"'
    text = TEXT
    for language in ("en", "ko", "ja"):
        text = _edit(f'language = "{language}"', f'language = "{language}"\n{pins}', text)
    a = _parse(text)
    assert a.pinned
    assert a.party("JPN").signing_key == {"kty": "OKP", "crv": "Ed25519", "x": "abc"}
    assert a.digest != arrangement().digest


@pytest.mark.parametrize("ceiling", ["SECRETISH", "RESTRICTED", "極秘"])
def test_bad_ceiling(ceiling: str) -> None:
    text = _edit(
        'parties = ["USA", "KOR"]\nceiling = "SECRET"',
        f'parties = ["USA", "KOR"]\nceiling = "{ceiling}"',
    )
    reason = _invalid(text)
    assert f"channel[0]: unknown classification {ceiling!r}" in reason


def test_channel_needs_a_basis() -> None:
    text = TEXT.replace(
        'basis = "United States–Republic of Korea', 'basisx = "United States–Republic of Korea'
    )
    assert "channel[0]: 'basis' must be a non-empty string" in _invalid(text)


def test_missing_scheme_term() -> None:
    reason = _invalid(_edit('CONFIDENTIAL = "秘"\n', ""))
    assert "[classification.JPN]: 'CONFIDENTIAL' must be a non-empty string" in reason


def test_missing_scheme() -> None:
    text = _edit("[classification.KOR]\n", "[classification.ROK]\n")
    assert "[classification.KOR] is missing" in _invalid(text)


def test_scheme_with_two_levels_sharing_a_term() -> None:
    reason = _invalid(_edit('SECRET = "極秘"', 'SECRET = "秘"'))
    assert "[classification.JPN]: two levels share one term" in reason


def test_scheme_with_an_unknown_level() -> None:
    reason = _invalid(
        _edit('TOP_SECRET = "機密"', 'TOP_SECRET = "機密"\nRESTRICTED = "取扱厳重注意"')
    )
    assert "[classification.JPN]: unknown level(s) RESTRICTED" in reason


@pytest.mark.parametrize(
    "topic",
    ["DPRK.missile.launch", "dprk", "dprk..test", "dprk.missile launch", "dprk.missile.*", ""],
)
def test_bad_topic(topic: str) -> None:
    reason = _invalid(_edit('"dprk.nuclear.test",', f'"dprk.nuclear.test", "{topic}",'))
    assert f"[scope] topic {topic!r} must be dotted lowercase words" in reason


@pytest.mark.parametrize("topics", ["[]", '"dprk.missile.launch"', "[1]"])
def test_scope_topics_must_be_a_non_empty_list_of_strings(topics: str) -> None:
    start = TEXT.index("topics = [")
    end = TEXT.index("]", start) + 1
    reason = _invalid(TEXT[:start] + f"topics = {topics}" + TEXT[end:])
    assert "[scope] topics must be a non-empty list of strings" in reason


@pytest.mark.parametrize("table", ["party", "channel"])
def test_missing_array(table: str) -> None:
    text = TEXT.replace(f"[[{table}]]", f"[[{table}x]]")
    assert f"[[{table}]] is missing or empty" in _invalid(text)


def test_unrepresentable_value_is_reported_not_raised_raw() -> None:
    # A TOML date has no canonical JSON form, so the digest cannot be computed.
    reason = _invalid(_edit('signed = "2014-12-29"', "signed = 2014-12-29"))
    assert "not representable as canonical JSON" in reason


@pytest.mark.parametrize("table", ["party", "channel"])
def test_array_of_non_tables(table: str) -> None:
    text = TEXT.replace(f"[[{table}]]", f"[[{table}x]]").replace(
        "[arrangement]", f"{table} = [1, 2]\n[arrangement]", 1
    )
    assert f"{table}[0]" in _invalid(text)


# --- lookups -------------------------------------------------------------------------------------


def test_party_lookup() -> None:
    a = arrangement()
    assert a.party("KOR").name == "Republic of Korea"
    with pytest.raises(InputInvalid, match="CHN is not a party to the arrangement tisa-2014"):
        a.party("CHN")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("USA", "KOR", "USA-KOR"),
        ("KOR", "USA", "USA-KOR"),
        ("JPN", "USA", "USA-JPN"),
        ("KOR", "JPN", None),
        ("JPN", "KOR", None),
        ("USA", "USA", None),
        ("USA", "CHN", None),
    ],
)
def test_channel_between(a: str, b: str, expected: str | None) -> None:
    channel = arrangement().channel_between(a, b)
    assert (channel.id if channel else None) == expected


def test_channel_by_id_in_either_order() -> None:
    a = arrangement()
    assert a.channel("USA-KOR") is a.channel("KOR-USA")
    assert a.channel("JPN-USA").id == "USA-JPN"
    with pytest.raises(
        InputInvalid, match="no channel 'KOR-JPN'; the channels are USA-KOR, USA-JPN"
    ):
        a.channel("KOR-JPN")


def test_channel_properties() -> None:
    channel = arrangement().channel("USA-KOR")
    assert channel.label == "USA–KOR"
    assert channel.other("USA") == "KOR"
    assert channel.other("KOR") == "USA"
    assert channel.joins("KOR", "USA")
    assert not channel.joins("KOR", "JPN")
    assert "1987" in channel.basis


def test_peers() -> None:
    a = arrangement()
    assert a.peers_of("USA") == ("KOR", "JPN")
    assert a.peers_of("KOR") == ("USA",)
    assert a.peers_of("JPN") == ("USA",)
    assert a.peers_of("CHN") == ()


def test_channel_joins_is_symmetric_and_exact() -> None:
    channel = Channel(("USA", "KOR"), Classification.SECRET, "basis")
    assert channel.joins("USA", "KOR")
    assert channel.joins("KOR", "USA")
    assert not channel.joins("USA", "USA")


# --- terms across schemes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("party", "term", "level"),
    [
        ("KOR", "군사Ⅱ급비밀", Classification.SECRET),
        ("KOR", "군사Ⅰ급비밀", Classification.TOP_SECRET),
        ("JPN", "機密", Classification.TOP_SECRET),
        ("JPN", "秘", Classification.CONFIDENTIAL),
        ("USA", "TOP SECRET", Classification.TOP_SECRET),
        # a common name is understood in every scheme
        ("JPN", "SECRET", Classification.SECRET),
        ("KOR", "TOP SECRET", Classification.TOP_SECRET),
    ],
)
def test_level_of_term(party: str, term: str, level: Classification) -> None:
    assert arrangement().level_of_term(party, term) is level


@pytest.mark.parametrize(
    ("party", "term"),
    [
        ("JPN", "군사Ⅱ급비밀"),
        ("KOR", "極秘"),
        ("USA", "秘"),
        ("KOR", "top secret"),
        ("JPN", " 極秘"),
    ],
)
def test_level_of_term_refuses_another_schemes_term(party: str, term: str) -> None:
    with pytest.raises(MarkingInvalid, match="unknown classification"):
        arrangement().level_of_term(party, term)


@given(st.sampled_from(PARTIES), st.sampled_from(Classification))
def test_term_and_level_of_term_are_inverse(party: str, level: Classification) -> None:
    a = arrangement()
    assert a.level_of_term(party, a.term(party, level)) is level


def test_level_of_term_for_an_unknown_party_is_input_invalid() -> None:
    with pytest.raises(InputInvalid):
        arrangement().level_of_term("CHN", "SECRET")


# --- topics --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "ok"),
    [
        ("dprk.missile.launch", True),
        ("dprk.missile.engine-test", True),
        ("a.b", True),
        ("x1.y2", True),
        ("dprk", False),
        ("", False),
        ("dprk.", False),
        (".dprk", False),
        ("dprk..missile", False),
        ("DPRK.missile", False),
        ("dprk.missile_launch", False),
        ("dprk.missile.*", False),
        ("dprk.미사일", False),
    ],
)
def test_is_topic(topic: str, ok: bool) -> None:
    assert is_topic(topic) is ok


# --- fusion windows ------------------------------------------------------------------------------

_FUSION_START = TEXT.index("[fusion]")
_FUSION_END = TEXT.index("\n\n", _FUSION_START)
_WITHOUT_FUSION = TEXT[:_FUSION_START] + TEXT[_FUSION_END:]


def test_shipped_fusion_windows() -> None:
    f = arrangement().fusion
    assert (f.launch_window_s, f.launch_distance_km) == (600, 150)
    assert (f.test_window_s, f.test_distance_km) == (240, 100)
    assert f.disagreement_sigmas == 2


def test_fusion_windows_default_when_the_table_is_absent() -> None:
    assert "[fusion]" not in _WITHOUT_FUSION
    assert _parse(_WITHOUT_FUSION).fusion == FusionWindows()


def test_fusion_keys_default_one_by_one_and_accept_floats() -> None:
    text = _WITHOUT_FUSION + "\n[fusion]\ntest_window_s = 120.5\n"
    f = _parse(text).fusion
    assert f.test_window_s == 120.5
    assert f.launch_window_s == FusionWindows().launch_window_s


def test_fusion_windows_are_part_of_the_digest() -> None:
    assert _parse(_edit("launch_window_s = 600", "launch_window_s = 300")).digest != (
        arrangement().digest
    )


@pytest.mark.parametrize("value", ["0", "-5", '"600"', "true", "nan", "inf"])
def test_fusion_values_must_be_positive_numbers(value: str) -> None:
    reason = _invalid(_edit("launch_window_s = 600", f"launch_window_s = {value}"))
    assert "[fusion]: 'launch_window_s' must be a number > 0" in reason


def test_fusion_unknown_key() -> None:
    reason = _invalid(_edit("launch_window_s = 600", "launch_window_s = 600\nsalvo = 3"))
    assert "[fusion]: unknown key(s) salvo" in reason


def test_fusion_must_be_a_table() -> None:
    reason = _invalid(_WITHOUT_FUSION.replace("[arrangement]", "fusion = 3\n[arrangement]", 1))
    assert "[fusion] must be a table" in reason
