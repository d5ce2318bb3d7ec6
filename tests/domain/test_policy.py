"""Tests for tisa.domain.policy: each rule's words, the combinator, access, and the properties that
hold for any product, consents, suspensions and hop.

The properties check `decide(MOVE, ...)` against oracles written here from the rules of release
in DESIGN.md, each on its own, without calling the rules.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from harness.factories import (
    CODES,
    CONSENT_ID,
    HUB,
    LAUNCH,
    NUCLEAR_TEST,
    OTHER_PRODUCT_ID,
    OUT_OF_SCOPE_TOPICS,
    PARTIES,
    PRODUCT_ID,
    PRODUCT_IDS,
    T0,
    TOPIC_PATTERNS,
    arrangement,
    codes,
    consent,
    held,
    held_consents,
    moments,
    move,
    product,
    products,
    scope_topics,
    situation,
    situations,
    suspensions,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tisa.domain.consent import Consent, HeldConsent
from tisa.domain.markings import Classification, Precedence
from tisa.domain.model import Product
from tisa.domain.policy import (
    COMPOSE,
    FETCH,
    MOVE,
    QUEUE,
    READ,
    AllOf,
    CeilingRule,
    ChannelRule,
    ConsentRule,
    Decision,
    NoEchoRule,
    Reason,
    ReleasabilityRule,
    RuleName,
    ScopeRule,
    Situation,
    SuspensionRule,
    decide,
)
from tisa.domain.questions import Movement, Opening, Reader
from tisa.errors import PolicyDenied

HOUR = timedelta(hours=1)
NOW = T0 + HOUR
KOR_ONLY_TO_USA = {"rel_to": {"USA", "KOR"}}
SCOPE = scope_topics()


def _decide(p: Product, sender: str, recipient: str, **where: object) -> Decision:
    return decide(MOVE, move(p, sender, recipient), situation(**where))  # type: ignore[arg-type]


def _access(reader: Reader, p: Product) -> Decision:
    return decide(READ, Opening(reader, p, "KOR", recalled=False), situation())


def _texts(p: Product, sender: str, recipient: str, **where: object) -> tuple[str, ...]:
    return _decide(p, sender, recipient, **where).texts


# --- allowed movements ---------------------------------------------------------------------------


def test_originator_sends_to_the_hub() -> None:
    d = _decide(product(), "KOR", "USA")
    assert d.allowed
    assert d.reasons == ()
    assert not d.held
    d.raise_if_denied()


def test_hub_originates_to_both_spokes() -> None:
    p = product(originator="USA")
    assert _decide(p, "USA", "KOR").allowed
    assert _decide(p, "USA", "JPN").allowed


def test_hub_relays_with_a_standing_consent() -> None:
    assert _decide(product(), "USA", "JPN", consents=[consent()]).allowed


def test_hub_relays_with_a_per_product_consent() -> None:
    c = consent(product_id=PRODUCT_ID)
    assert _decide(product(orcon=True), "USA", "JPN", consents=[c]).allowed


def test_hub_relays_jpn_product_to_kor_with_jpns_consent() -> None:
    p = product(originator="JPN")
    c = consent(originator="JPN", recipient="KOR")
    assert _decide(p, "JPN", "USA").allowed
    assert _decide(p, "USA", "KOR", consents=[c]).allowed
    # KOR's consent does not stand in for JPN's
    assert _texts(p, "USA", "KOR", consents=[consent(recipient="JPN")]) == (
        "no consent from JPN for KOR",
    )


# --- each rule's reasons, exactly ----------------------------------------------------------------


def test_rel_to_lacks_the_recipient() -> None:
    p = product(**KOR_ONLY_TO_USA)
    assert _texts(p, "USA", "JPN", consents=[consent()]) == ("REL TO lacks JPN",)
    assert _texts(product(rel_to={"KOR", "JPN"}), "KOR", "USA") == ("REL TO lacks USA",)


def test_no_consent_holds_the_product() -> None:
    d = _decide(product(), "USA", "JPN")
    assert d.texts == ("no consent from KOR for JPN",)
    assert d.reasons[0].rule is RuleName.CONSENT
    assert d.held


def test_spokes_never_exchange_directly() -> None:
    for sender, recipient in (("KOR", "JPN"), ("JPN", "KOR")):
        p = product(originator=sender)
        d = _decide(p, sender, recipient)
        assert d.texts == (
            f"no channel {sender}–{recipient}: {sender} and {recipient} exchange only via USA",
        )
        assert d.reasons[0].rule is RuleName.CHANNEL
        assert not d.held


def test_no_channel_to_a_non_party() -> None:
    p = product(rel_to={"USA", "KOR", "CHN"})
    assert _texts(p, "KOR", "CHN") == (
        "no channel KOR–CHN: KOR and CHN exchange only via USA",
        "REL TO names CHN, which is not a party to tisa-2014",
    )


def test_out_of_scope_topics_are_each_named() -> None:
    p = product(topics={"prc.missile.launch", LAUNCH, "dprk.cyber.theft"})
    d = _decide(p, "KOR", "USA")
    assert d.texts == (
        "topic 'dprk.cyber.theft' is outside the arrangement's scope",
        "topic 'prc.missile.launch' is outside the arrangement's scope",
    )
    assert {r.rule for r in d.reasons} == {RuleName.SCOPE}
    assert not d.held


def test_scope_rule_names_a_product_without_topics() -> None:
    # Product refuses to construct without topics; the rule still fails closed on one.
    p = product()
    object.__setattr__(p, "topics", frozenset())
    assert ScopeRule().check(move(p, "KOR", "USA"), situation()) == (
        Reason(RuleName.SCOPE, "the product has no topic"),
    )


def test_above_the_channel_ceiling() -> None:
    d = _decide(product(classification=Classification.TOP_SECRET), "KOR", "USA")
    assert d.texts == ("TOP SECRET is above the USA–KOR channel's ceiling SECRET",)
    assert d.reasons[0].rule is RuleName.CEILING
    assert not d.held


def test_suspended_channel_holds() -> None:
    d = _decide(product(), "KOR", "USA", suspended={"USA-KOR"})
    assert d.texts == ("channel USA–KOR is suspended",)
    assert d.reasons[0].rule is RuleName.SUSPENDED
    assert d.held
    # another channel's suspension does not matter
    assert _decide(product(), "KOR", "USA", suspended={"USA-JPN"}).allowed


def test_suspended_and_no_consent_is_still_a_hold() -> None:
    d = _decide(product(), "USA", "JPN", suspended={"USA-JPN"})
    assert d.texts == ("channel USA–JPN is suspended", "no consent from KOR for JPN")
    assert d.held


def test_suspension_in_either_spelling_holds() -> None:
    assert _decide(product(), "KOR", "USA", suspended={"KOR-USA"}).held


def test_echo_to_the_originator() -> None:
    d = _decide(product(), "USA", "KOR", consents=[consent()])
    assert d.reasons[0] == Reason(RuleName.NO_ECHO, "KOR is the originator; no echo")
    assert not d.held


def test_echo_by_the_originator_to_itself() -> None:
    d = _decide(product(), "KOR", "KOR")
    assert Reason(RuleName.NO_ECHO, "KOR is the originator; no echo") in d.reasons
    assert not d.allowed


def test_relayed_product_is_not_relayed_again() -> None:
    d = _decide(product(), "JPN", "USA", consents=[consent()])
    assert d.reasons[0] == Reason(
        RuleName.NO_ECHO,
        "JPN is not the originator and only the hub USA relays; "
        "a relayed product is not relayed again",
    )
    assert not d.held


def test_hub_cannot_relay_what_it_cannot_have_received() -> None:
    p = product(originator="CHN", rel_to={"CHN", "USA", "KOR"})
    c = consent(originator="CHN", recipient="KOR", topics={"*"})
    d = _decide(p, "USA", "KOR", consents=[c])
    assert d.texts == (
        "REL TO names CHN, which is not a party to tisa-2014",
        "USA cannot have received it from CHN",
    )
    assert not d.held


@pytest.mark.parametrize(("sender", "recipient"), [("USA", "KOR"), ("JPN", "USA")])
def test_a_refusal_for_good_carries_no_consent_noise(sender: str, recipient: str) -> None:
    d = _decide(product(), sender, recipient)
    assert [r.rule for r in d.reasons] == [RuleName.NO_ECHO]


def test_every_rule_speaks_at_once() -> None:
    p = product(
        classification=Classification.TOP_SECRET,
        rel_to={"KOR"},
        topics={"prc.missile.launch"},
    )
    d = _decide(p, "JPN", "KOR")
    rules = [r.rule for r in d.reasons]
    assert RuleName.CHANNEL in rules
    assert RuleName.SCOPE in rules
    assert RuleName.NO_ECHO in rules
    assert not d.held
    with pytest.raises(PolicyDenied) as caught:
        d.raise_if_denied()
    assert caught.value.reasons == d.texts
    assert "REL TO" not in caught.value.reason  # KOR is in REL TO: that rule is silent


# --- consent validity at the hub ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("c", "revoked_at", "allowed"),
    [
        (consent(), None, True),
        (consent(issued_at=NOW + HOUR), None, False),  # not yet issued
        (consent(expires_at=NOW), None, False),  # expired at now
        (consent(expires_at=NOW + HOUR), None, True),
        (consent(), NOW, False),  # revoked at now
        (consent(), NOW + HOUR, True),  # revoked later
        (consent(recipient="CHN"), None, False),  # another recipient
        (consent(hub="GBR"), None, False),  # another hub
        (consent(originator="JPN", recipient="KOR"), None, False),  # another originator
        (consent(topics={"dprk.nuclear.*"}), None, False),  # topics not covered
        (consent(max_classification=Classification.CONFIDENTIAL), None, False),
        (consent(precedences={Precedence.ROUTINE}), None, False),
        (consent(product_id=OTHER_PRODUCT_ID), None, False),
    ],
)
def test_hub_relay_needs_a_consent_in_force_that_covers(
    c: Consent, revoked_at: datetime | None, allowed: bool
) -> None:
    d = _decide(product(), "USA", "JPN", consents=[HeldConsent(c, revoked_at)], now=NOW)
    assert d.allowed is allowed
    if not allowed:
        assert d.texts == ("no consent from KOR for JPN",)
        assert d.held


def test_orcon_needs_a_per_product_consent() -> None:
    p = product(orcon=True)
    standing = consent(topics={"*"}, max_classification=Classification.TOP_SECRET)
    assert _texts(p, "USA", "JPN", consents=[standing]) == ("no consent from KOR for JPN",)
    assert _decide(p, "USA", "JPN", consents=[standing, consent(product_id=p.id)]).allowed


def test_one_good_consent_among_bad_ones_is_enough() -> None:
    bad = [held(NOW - HOUR), held(expires_at=T0 + timedelta(minutes=1)), held(recipient="CHN")]
    assert not _decide(product(), "USA", "JPN", consents=bad).allowed
    assert _decide(product(), "USA", "JPN", consents=[*bad, held()]).allowed


def test_originator_needs_no_consent() -> None:
    assert ConsentRule().check(move(product(), "KOR", "USA"), situation()) == ()


def test_a_relay_citing_a_consent_rests_on_that_one_only() -> None:
    cited = consent()
    other = consent(id=OTHER_PRODUCT_ID)
    m = Movement(product(), "USA", "JPN", consent_id=cited.id)
    assert decide(MOVE, m, situation(consents=[cited])).allowed
    # revoked: refused for good, with the consent named; another consent in force is no help
    d = decide(MOVE, m, situation(consents=[held(NOW - HOUR), other]))
    assert d.texts == (f"consent {cited.id} from KOR was revoked",)
    assert not d.held
    d = decide(MOVE, m, situation(consents=[other]))
    assert d.texts == (f"consent {cited.id} from KOR is not held here",)
    d = decide(MOVE, m, situation(consents=[consent(expires_at=NOW)]))
    assert d.texts == (f"consent {cited.id} from KOR is not in force",)


def test_a_recalled_version_moves_nowhere() -> None:
    p = product()
    d = decide(MOVE, move(p, "KOR", "USA"), situation(recalled=[(p.id, p.version)]))
    assert d.texts == (f"KOR recalled {p.id} v1",)
    assert [r.rule for r in d.reasons] == [RuleName.RECALLED]
    assert not d.held
    assert decide(MOVE, move(p, "KOR", "USA"), situation(recalled=[(p.id, 2)])).allowed


def test_queueing_waits_out_a_suspension_moving_does_not() -> None:
    where = situation(suspended={"USA-KOR"})
    assert decide(QUEUE, move(product(), "KOR", "USA"), where).allowed
    assert decide(MOVE, move(product(), "KOR", "USA"), where).held
    assert SuspensionRule().check(move(product(), "KOR", "USA"), situation()) == ()


def test_compose_hears_scope_and_parties_only() -> None:
    p = product(rel_to={"USA", "KOR", "GBR", "PRK"}, topics={"dprk.missile.launch", "x.y"})
    assert decide(COMPOSE, move(p, "KOR", "KOR"), situation()).texts == (
        "topic 'x.y' is outside the arrangement's scope",
        "REL TO names GBR, which is not a party to tisa-2014",
        "REL TO names PRK, which is not a party to tisa-2014",
    )


def test_attachments_of_a_recalled_version_are_withdrawn_but_at_its_originator() -> None:
    reader = _reader()
    p = product()
    assert decide(FETCH, Opening(reader, p, "JPN", recalled=False), situation()).allowed
    d = decide(FETCH, Opening(reader, p, "JPN", recalled=True), situation())
    assert d.texts == (f"{p.id} v1 was recalled; its attachments are withdrawn",)
    assert decide(FETCH, Opening(reader, p, "KOR", recalled=True), situation()).allowed
    # reading the (recalled) product itself is rule 7 alone
    assert decide(READ, Opening(reader, p, "JPN", recalled=True), situation()).allowed


# --- combining rules -----------------------------------------------------------------------------


def test_empty_all_of_denies() -> None:
    reasons = AllOf().check(move(product(), "KOR", "USA"), situation())
    assert reasons == (Reason(RuleName.EMPTY, "no rules of release are configured"),)
    assert not Decision(reasons).held


def test_all_of_collects_every_rules_reasons_in_order() -> None:
    rules = AllOf(ReleasabilityRule(), CeilingRule())
    p = product(rel_to={"KOR"}, classification=Classification.TOP_SECRET)
    assert [r.rule for r in rules.check(move(p, "KOR", "USA"), situation())] == [
        RuleName.RELEASABILITY,
        RuleName.CEILING,
    ]
    assert AllOf(ChannelRule()).check(move(product(), "KOR", "USA"), situation()) == ()


def test_release_rules_are_the_six_rules() -> None:
    p = product(classification=Classification.TOP_SECRET, rel_to={"KOR"}, topics={"x.y"})
    m, where = move(p, "JPN", "KOR"), situation()
    expected = tuple(
        r
        for rule in (
            ChannelRule(),
            ScopeRule(),
            ReleasabilityRule(),
            CeilingRule(),
            NoEchoRule(),
            ConsentRule(),
        )
        for r in rule.check(m, where)
    )
    assert MOVE.check(m, where) == expected


def test_decision_properties() -> None:
    hold = Reason(RuleName.CONSENT, "no consent", hold=True)
    stop = Reason(RuleName.SCOPE, "out of scope")
    assert Decision(()).allowed
    assert not Decision(()).held
    assert Decision((hold,)).held
    assert not Decision((hold, stop)).held
    assert Decision((hold, stop)).texts == ("no consent", "out of scope")
    with pytest.raises(PolicyDenied, match="no consent; out of scope"):
        Decision((hold, stop)).raise_if_denied()


# --- access --------------------------------------------------------------------------------------


def _reader(clearance: Classification = Classification.SECRET, *ntk: str) -> Reader:
    return Reader("park", "KOR", clearance, frozenset(ntk or ("dprk.missile.*",)))


def test_access_with_clearance_and_need_to_know() -> None:
    assert _access(_reader(), product()).allowed
    assert _access(_reader(Classification.TOP_SECRET), product()).allowed


def test_access_below_clearance() -> None:
    d = _access(_reader(Classification.CONFIDENTIAL), product())
    assert d.texts == ("park's clearance CONFIDENTIAL is below SECRET",)
    assert d.reasons[0].rule is RuleName.CLEARANCE


def test_access_without_need_to_know_names_each_topic() -> None:
    p = product(topics={LAUNCH, NUCLEAR_TEST, "dprk.nuclear.site-activity"})
    d = _access(_reader(Classification.SECRET, "dprk.missile.*"), p)
    assert d.texts == (
        "park has no need-to-know for dprk.nuclear.site-activity, dprk.nuclear.test",
    )
    assert d.reasons[0].rule is RuleName.NEED_TO_KNOW


@pytest.mark.parametrize(
    ("patterns", "allowed"),
    [
        (("*",), True),
        (("dprk.*",), True),
        (("dprk.missile.*", "dprk.nuclear.*"), True),
        ((LAUNCH, NUCLEAR_TEST), True),
        (("dprk.missile.*",), False),
        ((LAUNCH,), False),
        (("dprk.missile",), False),
    ],
)
def test_need_to_know_patterns(patterns: tuple[str, ...], allowed: bool) -> None:
    p = product(topics={LAUNCH, NUCLEAR_TEST})
    assert _access(_reader(Classification.TOP_SECRET, *patterns), p).allowed is allowed


def test_access_without_any_need_to_know_and_clearance_gives_both_reasons() -> None:
    reader = Reader("sato", "JPN", Classification.CONFIDENTIAL, frozenset())
    d = _access(reader, product())
    assert [r.rule for r in d.reasons] == [RuleName.CLEARANCE, RuleName.NEED_TO_KNOW]
    assert not d.held


# === properties ==================================================================================
#
# Oracles: each fact from DESIGN.md "Rules of release", written plainly from the data.


def _channel_joining(where: Situation, a: str, b: str) -> tuple[str, str] | None:
    for channel in where.arrangement.channels:
        if sorted(channel.parties) == sorted((a, b)) and a != b:
            return channel.parties
    return None


def _ceiling(where: Situation, a: str, b: str) -> Classification:
    for channel in where.arrangement.channels:
        if set(channel.parties) == {a, b}:
            return channel.ceiling
    raise AssertionError(f"no channel {a}-{b}")


def _suspended(where: Situation, pair: tuple[str, str]) -> bool:
    a, b = pair
    return f"{a}-{b}" in where.suspended or f"{b}-{a}" in where.suspended


def _pattern_matches(pattern: str, topic: str) -> bool:
    if pattern in ("*", topic):
        return True
    if not pattern.endswith(".*"):
        return False
    prefix = pattern[:-2].split(".")
    words = topic.split(".")
    return len(words) > len(prefix) and words[: len(prefix)] == prefix


def _consent_in_force(h: HeldConsent, now: datetime) -> bool:
    c = h.consent
    if now < c.issued_at:
        return False
    if c.expires_at is not None and not now < c.expires_at:
        return False
    return h.revoked_at is None or now < h.revoked_at


def _consent_covers_terms(c: Consent, p: Product) -> bool:
    if c.product_id is not None:
        return c.product_id == p.id
    if p.markings.orcon:
        return False
    if c.max_classification is None or p.markings.classification > c.max_classification:
        return False
    if c.precedences and p.markings.precedence not in c.precedences:
        return False
    return all(any(_pattern_matches(pat, t) for pat in c.topics) for t in p.topics)


def _relay_consented(where: Situation, p: Product, hub: str, recipient: str) -> bool:
    """An originator-signed consent for this hub and recipient, in force, covering `p`."""
    return any(
        h.consent.originator == p.markings.originator
        and h.consent.hub == hub
        and h.consent.recipient == recipient
        and _consent_in_force(h, where.now)
        and _consent_covers_terms(h.consent, p)
        for h in where.consents
    )


def _topics_in_scope(where: Situation, p: Product) -> bool:
    return len(p.topics) >= 1 and all(t in where.arrangement.scope for t in p.topics)


def _may_send_as(where: Situation, p: Product, sender: str, recipient: str) -> bool:
    """Rules 5 and 6 (who may send): the originator, or the hub relaying with consent."""
    originator = p.markings.originator
    if sender == originator:
        return True
    return sender == where.arrangement.hub and _relay_consented(where, p, sender, recipient)


def _percent(draw: st.DrawFn, chance: int) -> bool:
    """True about `chance` times in a hundred; false for the simplest draw (0), so examples
    shrink towards the unbroken case."""
    return draw(st.integers(min_value=0, max_value=99)) >= 100 - chance


@st.composite
def random_hops(draw: st.DrawFn) -> tuple[Movement, Situation]:
    """Anything: any product, consents, suspensions, sender and recipient."""
    where = draw(situations(max_consents=4))
    p = draw(products())
    sender = draw(st.sampled_from((p.originator, HUB)) | codes())
    return Movement(p, sender, draw(codes())), where


@st.composite
def near_hops(draw: st.DrawFn) -> tuple[Movement, Situation]:
    """A permitted direct send or consented relay, with each fact broken now and then, so the
    properties see both sides of every boundary (expiry at now, revocation at now, ceiling...)."""
    a = arrangement()
    now = draw(moments())
    originator = draw(st.sampled_from(("KOR", "JPN", "KOR", "JPN", "USA", "CHN")))
    if originator != HUB and not _percent(draw, 40):
        sender = HUB
        recipient = draw(st.sampled_from([c for c in a.peers_of(HUB) if c != originator] or [HUB]))
    else:
        sender = originator
        recipient = draw(st.sampled_from(a.peers_of(originator) or CODES))
    if _percent(draw, 10):
        sender = draw(codes())
    if _percent(draw, 10):
        recipient = draw(codes())

    rel_to = {*PARTIES, originator}
    if _percent(draw, 20):
        rel_to = (rel_to - {draw(st.sampled_from(PARTIES))}) | {originator}
    if _percent(draw, 10):
        rel_to.add(draw(codes()))
    topics = draw(st.frozensets(st.sampled_from(SCOPE), min_size=1, max_size=3))
    if _percent(draw, 15):
        topics |= {draw(st.sampled_from(OUT_OF_SCOPE_TOPICS))}
    p = product(
        id=draw(st.sampled_from(PRODUCT_IDS)),
        originator=originator,
        rel_to=rel_to,
        topics=topics,
        classification=(
            Classification.TOP_SECRET
            if _percent(draw, 20)
            else draw(st.sampled_from((Classification.SECRET, Classification.CONFIDENTIAL)))
        ),
        precedence=draw(st.sampled_from(Precedence)),
        orcon=_percent(draw, 30),
        observations=(),
    )

    held_consents_ = list(draw(st.lists(held_consents(), max_size=2)))
    if recipient not in (originator, HUB) and not _percent(draw, 20):
        issued_at = now + timedelta(hours=draw(st.integers(min_value=-24, max_value=1)))
        standing = draw(st.booleans())
        signer = originator
        if _percent(draw, 10):
            signer = draw(codes().filter(lambda code: code not in (recipient, HUB)))
        relay_hub = HUB
        if _percent(draw, 15) and sender not in (recipient, signer):
            relay_hub = sender  # a consent naming some other party as the hub
        c = Consent(
            id=CONSENT_ID,
            originator=signer,
            hub=relay_hub,
            recipient=recipient,
            issued_at=issued_at,
            product_id=None if standing else (OTHER_PRODUCT_ID if _percent(draw, 20) else p.id),
            topics=(
                draw(st.frozensets(st.sampled_from(TOPIC_PATTERNS), min_size=1, max_size=2))
                if standing
                else frozenset()
            ),
            max_classification=draw(st.sampled_from(Classification)) if standing else None,
            precedences=draw(st.frozensets(st.sampled_from(Precedence)))
            if standing
            else frozenset(),
            expires_at=draw(
                st.none()
                | st.integers(min_value=1, max_value=30).map(lambda h: issued_at + h * HOUR)
            ),
        )
        revoked_at = None
        if _percent(draw, 30):
            revoked_at = now + draw(st.integers(-2, 2)) * HOUR
        held_consents_.append(HeldConsent(c, revoked_at))

    suspended = draw(suspensions()) if _percent(draw, 25) else frozenset()
    recalled = frozenset({(p.id, p.version)}) if _percent(draw, 10) else frozenset()
    where = Situation(a, tuple(held_consents_), suspended, recalled, now)
    return Movement(p, sender, recipient), where


def hops() -> st.SearchStrategy[tuple[Movement, Situation]]:
    """A third random hops, two thirds near-permitted ones."""
    return st.one_of(random_hops(), near_hops(), near_hops())


MAIN = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@MAIN
@given(hops())
def test_an_allowed_hop_satisfies_every_rule(hop: tuple[Movement, Situation]) -> None:
    m, where = hop
    if not decide(MOVE, m, where).allowed:
        return
    p, sender, recipient = m.product, m.sender, m.recipient
    pair = _channel_joining(where, sender, recipient)
    assert pair is not None, "a channel joins sender and recipient"
    assert not _suspended(where, pair), "the channel is not suspended"
    assert p.topics, "at least one topic"
    assert _topics_in_scope(where, p), "every topic in scope"
    assert recipient in p.markings.rel_to, "recipient in REL TO"
    assert p.markings.rel_to <= set(where.arrangement.parties), "REL TO names only parties"
    assert (p.id, p.version) not in where.recalled, "not recalled"
    assert p.markings.classification <= _ceiling(where, sender, recipient), "within ceiling"
    assert recipient != p.markings.originator, "no echo"
    assert _may_send_as(where, p, sender, recipient), "originator, or hub with consent"
    if sender != p.markings.originator:
        assert _channel_joining(where, p.markings.originator, sender), "the hub got it directly"


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hops())
def test_a_permitted_hop_is_allowed_and_denials_are_explained(
    hop: tuple[Movement, Situation],
) -> None:
    """The converse (the rules refuse nothing the rules of release permit), every denial has
    reasons, and `held` exactly when every reason may clear later."""
    m, where = hop
    p, sender, recipient = m.product, m.sender, m.recipient
    originator = p.markings.originator
    pair = _channel_joining(where, sender, recipient)
    permitted = (
        pair is not None
        and not _suspended(where, pair)
        and _topics_in_scope(where, p)
        and recipient in p.markings.rel_to
        and p.markings.rel_to <= set(where.arrangement.parties)
        and p.markings.classification <= _ceiling(where, sender, recipient)
        and recipient != originator
        and _may_send_as(where, p, sender, recipient)
        and (p.id, p.version) not in where.recalled
        # a relaying hub must have been able to receive it from the originator
        and (sender == originator or _channel_joining(where, originator, sender) is not None)
    )
    d = decide(MOVE, m, where)
    assert d.allowed is permitted
    if d.allowed:
        assert d.reasons == ()
        assert not d.held
        return
    assert d.reasons, "a denial always says why"
    assert all(r.text.strip() for r in d.reasons)
    assert d.held is all(r.hold for r in d.reasons)
    for r in d.reasons:
        assert r.hold is (r.rule in (RuleName.SUSPENDED, RuleName.CONSENT))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hops())
def test_a_hold_clears_when_channels_resume_and_consent_is_given(
    hop: tuple[Movement, Situation],
) -> None:
    """`held` means it may pass later: resume every channel, add the originator's consent for
    this very product, and the same hop is allowed. Checked in the drawn situation, and with no
    consents and every channel suspended, where holds are common."""
    m, drawn = hop
    every_channel = frozenset(c.id for c in drawn.arrangement.channels)
    for where in (
        drawn,
        replace(drawn, consents=()),
        replace(drawn, suspended=every_channel),
    ):
        if not decide(MOVE, m, where).held:
            continue
        grants: tuple[HeldConsent, ...] = ()
        if m.sender != m.product.originator:
            grant = Consent(
                id="11111111-2222-4333-8444-555555555555",
                originator=m.product.originator,
                hub=m.sender,
                recipient=m.recipient,
                issued_at=where.now,
                product_id=m.product.id,
            )
            grants = (HeldConsent(grant),)
        later = replace(where, suspended=frozenset(), consents=(*where.consents, *grants))
        assert decide(MOVE, m, later).allowed


# --- the whole network -------------------------------------------------------------------------


def _spread(p: Product, where: Situation) -> tuple[set[str], set[tuple[str, str]]]:
    """Every party that ends up holding `p`, and every hop the rules allowed on the way: the
    originator offers it to everyone, and so does every receiver, until nothing new moves."""
    holders = {p.markings.originator}
    hops_taken: set[tuple[str, str]] = set()
    frontier = [p.markings.originator]
    while frontier:
        sender = frontier.pop()
        for recipient in CODES:
            if decide(MOVE, Movement(p, sender, recipient), where).allowed:
                hops_taken.add((sender, recipient))
                if recipient not in holders:
                    holders.add(recipient)
                    frontier.append(recipient)
    return holders, hops_taken


def _peers(where: Situation, party: str) -> set[str]:
    return {
        other
        for channel in where.arrangement.channels
        for one, other in (channel.parties, channel.parties[::-1])
        if one == party
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hops())
def test_the_product_reaches_only_rel_to_peers_and_consented_recipients(
    hop: tuple[Movement, Situation],
) -> None:
    m, where = hop
    p = m.product
    hub = where.arrangement.hub
    originator = p.markings.originator
    holders, hops_taken = _spread(p, where)

    direct = p.markings.rel_to & _peers(where, originator)
    relayed = (
        {r for r in p.markings.rel_to if r != originator and _relay_consented(where, p, hub, r)}
        if hub in holders and hub != originator
        else set()
    )
    assert holders <= {originator} | direct | relayed
    assert holders <= p.markings.rel_to
    assert ("KOR", "JPN") not in hops_taken
    assert ("JPN", "KOR") not in hops_taken
    for sender, recipient in hops_taken:
        assert sender in (originator, hub), "only the originator sends, only the hub relays"
        assert recipient != originator, "never back to the originator"
        if sender != originator:
            assert (originator, sender) in hops_taken, "the hub relays only what it received"


@settings(max_examples=100, deadline=None)
@given(products(originators=st.sampled_from(("KOR", "JPN")), topics=st.just(frozenset({LAUNCH}))))
def test_without_consent_a_spokes_product_stops_at_the_hub(p: Product) -> None:
    holders, _ = _spread(p, situation(now=NOW))
    expected = {p.originator}
    if (
        HUB in p.markings.rel_to
        and p.classification <= Classification.SECRET
        and p.markings.rel_to <= set(PARTIES)
    ):
        expected.add(HUB)
    assert holders == expected


def test_with_a_standing_consent_a_kor_product_reaches_jpn_via_the_hub() -> None:
    holders, hops_taken = _spread(product(), situation(consents=[consent()]))
    assert holders == {"KOR", "USA", "JPN"}
    assert hops_taken == {("KOR", "USA"), ("USA", "JPN")}


def test_a_suspended_channel_cuts_the_relay() -> None:
    holders, _ = _spread(product(), situation(consents=[consent()], suspended={"USA-JPN"}))
    assert holders == {"KOR", "USA"}


# --- the strategies reach the interesting cases --------------------------------------------------


def test_hop_strategy_reaches_every_kind_of_decision() -> None:
    """The properties above are only as good as the hops they see: make sure those include
    direct sends and relays that are allowed, holds, and refusals."""
    seen: set[str] = set()

    @settings(max_examples=200, phases=[Phase.generate], database=None, derandomize=True)
    @given(hops())
    def sample(hop: tuple[Movement, Situation]) -> None:
        m, where = hop
        d = decide(MOVE, m, where)
        if d.allowed:
            seen.add("direct" if m.sender == m.product.originator else "relay")
        else:
            seen.add("held" if d.held else "refused")

    sample()
    assert seen == {"direct", "relay", "held", "refused"}
