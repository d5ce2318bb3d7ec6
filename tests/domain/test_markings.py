"""Tests for tisa.domain.markings: levels, precedence, REL TO order, banners and portion marks."""

from __future__ import annotations

import pytest
from harness.factories import CODES, arrangement, markings
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.domain.markings import (
    Classification,
    InformationCredibility,
    Markings,
    Precedence,
    SourceReliability,
    check_trigraph,
    page_marking,
    rel_to_order,
    unclassified_term,
)
from tisa.errors import InputInvalid, MarkingInvalid

# --- Classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("CONFIDENTIAL", Classification.CONFIDENTIAL),
        ("SECRET", Classification.SECRET),
        ("TOP SECRET", Classification.TOP_SECRET),
        ("TOP_SECRET", Classification.TOP_SECRET),
    ],
)
def test_parse_reads_common_terms(text: str, level: Classification) -> None:
    assert Classification.parse(text) is level


@pytest.mark.parametrize(
    "text",
    [
        "",
        "UNCLASSIFIED",
        "SECRETISH",
        "TOP  SECRET",
        "TS",
        "S",
        "2",
        "極秘",
        "군사Ⅱ급비밀",
        # spelled otherwise than the arrangement spells it: refused, not normalised
        "secret",
        "top secret",
        "  SECRET ",
        "Top_Secret",
    ],
)
def test_parse_rejects_anything_else_naming_the_input_and_the_choices(text: str) -> None:
    with pytest.raises(MarkingInvalid) as caught:
        Classification.parse(text)
    assert repr(text) in caught.value.reason
    assert "CONFIDENTIAL, SECRET, TOP SECRET" in caught.value.reason
    assert isinstance(caught.value, InputInvalid)


def test_levels_are_ordered_and_labelled() -> None:
    assert Classification.CONFIDENTIAL < Classification.SECRET < Classification.TOP_SECRET
    assert [level.label for level in Classification] == ["CONFIDENTIAL", "SECRET", "TOP SECRET"]


@given(st.sampled_from(Classification))
def test_parse_reads_back_every_label_and_name(level: Classification) -> None:
    assert Classification.parse(level.label) is level
    assert Classification.parse(level.name) is level


# --- Precedence and grading -------------------------------------------------------------------


def test_precedence_lanes_put_flash_first() -> None:
    lanes = [p.lane for p in (Precedence.FLASH, Precedence.IMMEDIATE, Precedence.PRIORITY)]
    assert [*lanes, Precedence.ROUTINE.lane] == [0, 1, 2, 3]
    assert sorted(Precedence, key=lambda p: p.lane) == [
        Precedence.FLASH,
        Precedence.IMMEDIATE,
        Precedence.PRIORITY,
        Precedence.ROUTINE,
    ]


def test_precedence_prosigns() -> None:
    assert [p.prosign for p in Precedence] == ["Z", "O", "P", "R"]


def test_precedence_is_read_from_its_name() -> None:
    assert Precedence("FLASH") is Precedence.FLASH
    with pytest.raises(ValueError, match="BLITZ"):
        Precedence("BLITZ")


def test_admiralty_grading_values() -> None:
    assert [r.value for r in SourceReliability] == ["A", "B", "C", "D", "E", "F"]
    assert [c.value for c in InformationCredibility] == ["1", "2", "3", "4", "5", "6"]


# --- trigraphs and REL TO order -----------------------------------------------------------------


@pytest.mark.parametrize("code", ["USA", "KOR", "JPN", "CHN"])
def test_check_trigraph_returns_the_code(code: str) -> None:
    assert check_trigraph(code) == code


@pytest.mark.parametrize("code", ["", "US", "USAA", "usa", "Kor", "K0R", "KO R", " KOR", "\nKOR"])
def test_check_trigraph_refuses_other_shapes(code: str) -> None:
    with pytest.raises(MarkingInvalid, match="not a country trigraph"):
        check_trigraph(code)


def test_check_trigraph_refuses_a_trailing_newline() -> None:
    with pytest.raises(MarkingInvalid, match="not a country trigraph"):
        check_trigraph("KOR\n")


def test_rel_to_order_puts_usa_first_then_alphabetical() -> None:
    assert rel_to_order(frozenset({"KOR", "JPN", "USA"})) == ("USA", "JPN", "KOR")
    assert rel_to_order(frozenset({"KOR", "AUS", "USA", "GBR"})) == ("USA", "AUS", "GBR", "KOR")
    assert rel_to_order(frozenset({"KOR", "JPN"})) == ("JPN", "KOR")


@settings(max_examples=100)
@given(st.frozensets(st.sampled_from([*CODES, "AUS", "NZL", "CAN"]), min_size=1))
def test_rel_to_order_property(codes: frozenset[str]) -> None:
    ordered = rel_to_order(codes)
    assert set(ordered) == codes
    assert len(ordered) == len(codes)
    rest = [c for c in ordered if c != "USA"]
    assert rest == sorted(rest)
    if "USA" in codes:
        assert ordered[0] == "USA"


# --- Markings: construction ----------------------------------------------------------------------


def test_markings_with_the_originator_in_rel_to_construct() -> None:
    m = markings()
    assert m.originator == "KOR"
    assert m.rel_to == frozenset({"USA", "JPN", "KOR"})


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"rel_to": frozenset()}, "REL TO is empty"),
        ({"rel_to": {"USA", "JPN"}}, "REL TO must name the originator KOR"),
        ({"rel_to": {"USA", "kor", "KOR"}}, "'kor' is not a country trigraph"),
        ({"rel_to": {"USA", "KOREA", "KOR"}}, "'KOREA' is not a country trigraph"),
        ({"originator": "ROK", "rel_to": {"USA", "KOR"}}, "REL TO must name the originator ROK"),
        ({"originator": "Ko", "rel_to": {"Ko"}}, "'Ko' is not a country trigraph"),
    ],
)
def test_invalid_markings_raise_marking_invalid(overrides: dict[str, object], words: str) -> None:
    with pytest.raises(MarkingInvalid) as caught:
        markings(**overrides)
    assert words in caught.value.reason


# --- Markings: lines -----------------------------------------------------------------------------


def _term(party: str, level: Classification) -> str:
    return arrangement().term(party, level)


def test_banner_for_the_originator_has_no_fgi() -> None:
    m = markings(originator="USA")
    assert m.banner(_term("USA", m.classification), "USA") == "SECRET//REL TO USA, JPN, KOR"


def test_banner_for_a_jpn_reader_of_a_kor_product_names_kor_as_fgi_in_japanese() -> None:
    m = markings(originator="KOR")
    assert m.banner(_term("JPN", m.classification), "JPN") == "極秘//FGI KOR//REL TO USA, JPN, KOR"


def test_banner_for_each_reader_of_a_kor_product() -> None:
    m = markings(originator="KOR", classification=Classification.CONFIDENTIAL)
    lines = {reader: m.banner(_term(reader, m.classification), reader) for reader in CODES[:3]}
    assert lines == {
        "USA": "CONFIDENTIAL//FGI KOR//REL TO USA, JPN, KOR",
        "KOR": "군사Ⅲ급비밀//REL TO USA, JPN, KOR",
        "JPN": "秘//FGI KOR//REL TO USA, JPN, KOR",
    }


def test_orcon_goes_in_the_dissemination_block_before_rel_to() -> None:
    m = markings(rel_to={"USA", "KOR"}, orcon=True)
    assert m.dissemination() == "ORCON/REL TO USA, KOR"
    assert m.banner("SECRET", "USA") == "SECRET//FGI KOR//ORCON/REL TO USA, KOR"
    assert m.portion() == "(S//ORCON/REL TO USA, KOR)"


def test_rel_to_line_and_dissemination_without_orcon() -> None:
    m = markings(rel_to={"KOR", "USA"})
    assert m.rel_to_line == "REL TO USA, KOR"
    assert m.dissemination() == "REL TO USA, KOR"


@pytest.mark.parametrize(
    ("level", "mark"),
    [
        (Classification.CONFIDENTIAL, "(C//REL TO USA, JPN, KOR)"),
        (Classification.SECRET, "(S//REL TO USA, JPN, KOR)"),
        (Classification.TOP_SECRET, "(TS//REL TO USA, JPN, KOR)"),
    ],
)
def test_portion_marks(level: Classification, mark: str) -> None:
    assert markings(classification=level).portion() == mark


def test_markings_are_frozen() -> None:
    m = markings()
    with pytest.raises(AttributeError):
        m.orcon = True  # type: ignore[misc]


# --- Page markings ------------------------------------------------------------------------------


def test_a_page_showing_nothing_is_not_classified_in_the_readers_words() -> None:
    page = page_marking([], "KOR")
    assert page.level is None
    assert page.banner(unclassified_term("KOR")) == "비밀 아님"
    assert page_marking([], "USA").banner(unclassified_term("USA")) == "UNCLASSIFIED"


def test_a_page_is_marked_at_its_highest_item_and_goes_only_where_all_may_go() -> None:
    items = [
        markings(classification=Classification.CONFIDENTIAL, rel_to={"USA", "JPN", "KOR"}),
        markings(originator="JPN", rel_to={"USA", "JPN"}, orcon=True),
        markings(originator="USA", classification=Classification.SECRET, rel_to={"USA"}),
    ]
    page = page_marking(items, "USA")
    assert page.level is Classification.SECRET
    assert page.banner("SECRET") == "SECRET//FGI JPN KOR//ORCON/REL TO USA"


def test_one_items_page_marking_is_that_items_banner() -> None:
    item = markings(orcon=True)
    assert page_marking([item], "JPN").banner("極秘") == item.banner("極秘", "JPN")


@settings(max_examples=50)
@given(
    st.lists(
        st.builds(
            lambda level, extra: markings(
                classification=level, rel_to={"KOR", *extra}, originator="KOR"
            ),
            st.sampled_from(list(Classification)),
            st.sets(st.sampled_from(["USA", "JPN"])),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_no_item_is_above_the_page_marking(items: list[Markings]) -> None:
    page = page_marking(items, "KOR")
    assert page.level is not None
    assert all(m.classification <= page.level for m in items)
    assert all(page.rel_to <= m.rel_to for m in items)
