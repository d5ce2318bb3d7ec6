"""Factories and hypothesis strategies for tisa's domain objects.

Factories build one valid object with sensible defaults; pass keyword overrides to change what a
test is about:

    product()                              a KOR FLASH missile-launch product, SECRET, REL TO all
    product(classification=TOP_SECRET)      marking fields go into the Markings
    consent()                              KOR's standing rule: USA may relay dprk.missile.* to JPN
    consent(product_id=PRODUCT_ID)         a per-product consent instead
    arrangement()                          the shipped arrangement (parsed once)

Strategies draw objects across the whole space, valid and in-scope or not, so properties see
non-parties, out-of-scope topics, ORCON, expired and revoked consents and suspended channels:
`products()`, `consents()`, `held_consents()`, `movements()`, `suspensions()`, `situations()`.

TLS certificates for attacks and migrations: `legacy_tls_identity(party)` (a node certificate
as tisa made them before leaf-only identities: a CA limited to itself) and
`minted_tls_identity(issuer_key_pem, issuer_cert_pem, party)` (a certificate for another name
and key, signed with a node's TLS key).

Import with `from harness.factories import ...` (tests/ is on sys.path: see tests/conftest.py).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import ipaddress
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import strategies as st
from PIL import ExifTags, Image

from tisa.crypto.keys import SigningKey
from tisa.crypto.trust import Trust
from tisa.domain.arrangement import Arrangement, parse_arrangement
from tisa.domain.consent import Consent, HeldConsent
from tisa.domain.markings import (
    Classification,
    InformationCredibility,
    Markings,
    Precedence,
    SourceReliability,
)
from tisa.domain.model import (
    Estimate,
    Instant,
    MissileClass,
    MissileLaunch,
    NuclearTest,
    Observation,
    Position,
    Product,
    Qualifier,
)
from tisa.domain.policy import Situation
from tisa.domain.questions import Movement

# --- constants ------------------------------------------------------------------------------

ARRANGEMENT_PATH = Path(str(files("tisa") / "data" / "arrangement.toml"))

HUB = "USA"
PARTIES = ("USA", "KOR", "JPN")
# Well-formed trigraphs that are not parties to the default arrangement.
OUTSIDERS = ("CHN", "GBR", "RUS")
CODES = PARTIES + OUTSIDERS

#: A fixed moment every default time hangs off.
T0 = datetime(2024, 1, 14, 5, 55, tzinfo=UTC)

PRODUCT_ID = "0f8b2a64-3c1e-4b7a-9d52-6a1f0e4c9b10"
OTHER_PRODUCT_ID = "7c3d9e21-5a4b-4f6c-8e1d-2b9a0c7f3e54"
CONSENT_ID = "c0a5e1f2-9b3d-4e7a-8c6f-1d2e3f4a5b6c"
PRODUCT_IDS = (PRODUCT_ID, OTHER_PRODUCT_ID)

# A few in-scope topics, kept literal so a change to the shipped scope shows up in tests.
LAUNCH = "dprk.missile.launch"
NUCLEAR_TEST = "dprk.nuclear.test"
OUT_OF_SCOPE_TOPICS = (
    "dprk.cyber.theft",
    "prc.missile.launch",
    "rus.nuclear.test",
    "dprk.missile",
    "dprk.missile.launch.debris",
)
TOPIC_PATTERNS = (
    "*",
    "dprk.*",
    "dprk.missile.*",
    "dprk.nuclear.*",
    "prc.*",
    LAUNCH,
    NUCLEAR_TEST,
    "dprk.missile.slbm",
)

# Text as it may travel: anything but NUL, which the wire refuses (PostgreSQL cannot store it).
_WIRE_CHARS = st.characters(codec="utf-8", exclude_characters="\x00")


# --- factories ------------------------------------------------------------------------------


@functools.cache
def arrangement() -> Arrangement:
    """The shipped default arrangement, parsed once."""
    return parse_arrangement(
        ARRANGEMENT_PATH.read_text(encoding="utf-8"), source=str(ARRANGEMENT_PATH)
    )


@functools.cache
def signers() -> dict[str, Trust]:
    """Each party's `Trust` over the shipped arrangement with a fresh signing key pinned for
    every party (made once per test run): products signed here verify at any of them."""
    keys = {code: SigningKey.generate() for code in arrangement().parties}
    base = arrangement()
    pinned = dataclasses.replace(
        base,
        parties={
            code: dataclasses.replace(party, signing_key=keys[code].public().to_jwk())
            for code, party in base.parties.items()
        },
    )
    return {code: Trust(pinned, code, key) for code, key in keys.items()}


def scope_topics() -> tuple[str, ...]:
    """The shipped arrangement's scope, sorted."""
    return tuple(sorted(arrangement().scope))


def instant(original: str = "2024-01-14T14:55+09:00", **overrides: Any) -> Instant:
    """An instant whose utc is its `original` wording converted, as the wire computes it."""
    fields: dict[str, Any] = {"utc": datetime.fromisoformat(original).astimezone(UTC)}
    return Instant(**(fields | {"original": original} | overrides))


def launch(**overrides: Any) -> MissileLaunch:
    """The 14 Jan 2024 IRBM-class launch as KOR's JCS reported it."""
    fields: dict[str, Any] = {
        "time": instant("2024-01-14T14:55+09:00"),
        "missile_class": MissileClass.IRBM,
        "launch_position": Position(39.0, 125.7, 10.0, "Pyongyang area"),
        "count": Estimate(1, Qualifier.AT_LEAST),
        "apogee_km": Estimate(50, Qualifier.MORE_THAN),
        "range_km": Estimate(1000, Qualifier.ABOUT, 50.0),
        "flight_time_min": None,
        "impact_time": None,
        "impact_position": None,
        "inside_eez": False,
        "lofted": None,
    }
    return MissileLaunch(**(fields | overrides))


def nuclear_test(**overrides: Any) -> NuclearTest:
    """A nuclear test at Punggye-ri."""
    fields: dict[str, Any] = {
        "time": instant("2017-09-03T12:29:57+09:00"),
        "position": Position(41.3, 129.1, 5.0, "Punggye-ri"),
        "magnitude": Estimate(6.3, Qualifier.ABOUT, 0.1),
        "yield_kt": Estimate(160, Qualifier.ABOUT),
    }
    return NuclearTest(**(fields | overrides))


_MARKING_FIELDS = ("originator", "classification", "rel_to", "precedence", "orcon")


def markings(**overrides: Any) -> Markings:
    """KOR, SECRET, REL TO USA, JPN, KOR, FLASH, no ORCON."""
    fields: dict[str, Any] = {
        "originator": "KOR",
        "classification": Classification.SECRET,
        "rel_to": frozenset(PARTIES),
        "precedence": Precedence.FLASH,
        "orcon": False,
    }
    fields |= overrides
    fields["rel_to"] = frozenset(fields["rel_to"])
    return Markings(**fields)


def product(**overrides: Any) -> Product:
    """A valid KOR FLASH missile-launch product; marking fields may be overridden directly.

    `product(originator="JPN", rel_to={"USA", "JPN"}, topics={...}, version=2)`.
    """
    marks = {k: overrides.pop(k) for k in _MARKING_FIELDS if k in overrides}
    if "markings" in overrides and marks:
        raise TypeError("pass either markings= or marking fields, not both")
    fields: dict[str, Any] = {
        "id": PRODUCT_ID,
        "version": 1,
        "markings": overrides.pop("markings", None) or markings(**marks),
        "topics": frozenset({LAUNCH}),
        "title": "IRBM-class launch from the Pyongyang area",
        "text": "One IRBM-class missile launched at about 14:55 KST, flew about 1,000 km.",
        "source_reliability": SourceReliability.B,
        "information_credibility": InformationCredibility.PROBABLY_TRUE,
        "created_at": T0 + timedelta(minutes=5),
        "author": "kor.analyst",
        "observations": (launch(),),
    }
    fields |= overrides
    fields["topics"] = frozenset(fields["topics"])
    fields["observations"] = tuple(fields["observations"])
    return Product(**fields)


def identity_of(p: Product) -> dict[str, Any]:
    """What a node, not the draft, gives a product (`to_product`'s keywords)."""
    return {
        "id": p.id,
        "version": p.version,
        "originator": p.originator,
        "author": p.author,
        "created_at": p.created_at,
    }


def consent(**overrides: Any) -> Consent:
    """KOR's standing rule: USA may relay dprk.missile.* up to SECRET to JPN, from T0, open-ended.

    With `product_id=...` the default is a per-product consent (no topics, no ceiling).
    """
    per_product = overrides.get("product_id") is not None
    fields: dict[str, Any] = {
        "id": CONSENT_ID,
        "originator": "KOR",
        "hub": HUB,
        "recipient": "JPN",
        "issued_at": T0,
        "product_id": None,
        "topics": frozenset() if per_product else frozenset({"dprk.missile.*"}),
        "max_classification": None if per_product else Classification.SECRET,
        "precedences": frozenset(),
        "expires_at": None,
    }
    fields |= overrides
    fields["topics"] = frozenset(fields["topics"])
    fields["precedences"] = frozenset(fields["precedences"])
    return Consent(**fields)


def held(revoked_at: datetime | None = None, **overrides: Any) -> HeldConsent:
    """`consent(**overrides)` as a node holds it."""
    return HeldConsent(consent(**overrides), revoked_at)


def situation(
    consents: Iterable[HeldConsent | Consent] = (),
    suspended: Iterable[str] = (),
    now: datetime = T0 + timedelta(hours=1),
    recalled: Iterable[tuple[str, int]] = (),
) -> Situation:
    """The shipped arrangement with these consents (bare ones are unrevoked), suspensions and
    recalled versions."""
    return Situation(
        arrangement=arrangement(),
        consents=tuple(c if isinstance(c, HeldConsent) else HeldConsent(c) for c in consents),
        suspended=frozenset(suspended),
        recalled=frozenset(recalled),
        now=now,
    )


def move(p: Product, sender: str, recipient: str) -> Movement:
    """One hop of `p`."""
    return Movement(p, sender, recipient)


# --- strategies: building blocks -----------------------------------------------------------

#: Hours around T0: times for issue, expiry, revocation and "now".
hours = st.integers(min_value=-72, max_value=72)


def moments() -> st.SearchStrategy[datetime]:
    """Whole hours around T0 (coarse, so issue/expiry/revocation/now often coincide)."""
    return hours.map(lambda h: T0 + timedelta(hours=h))


def codes() -> st.SearchStrategy[str]:
    """A party (more often) or an outsider."""
    return st.sampled_from(PARTIES + PARTIES + OUTSIDERS)


def topic_sets(in_scope_only: bool = False) -> st.SearchStrategy[frozenset[str]]:
    """One to four topics; in scope mostly, out of scope sometimes unless `in_scope_only`."""
    inside = st.sampled_from(scope_topics())
    topic = inside if in_scope_only else st.one_of(inside, st.sampled_from(OUT_OF_SCOPE_TOPICS))
    return st.frozensets(topic, min_size=1, max_size=4)


_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-10)), timezone(timedelta(0))]
)


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes in several zones (equal instants compare equal)."""
    return st.datetimes(
        min_value=datetime(2006, 1, 1), max_value=datetime(2040, 1, 1), timezones=_ZONES
    )


def _finite(
    min_value: float | None = None, max_value: float | None = None
) -> st.SearchStrategy[float]:
    return st.floats(
        min_value=min_value, max_value=max_value, allow_nan=False, allow_infinity=False
    )


def estimates(min_value: float | None = None) -> st.SearchStrategy[Estimate]:
    """Finite estimates, optionally bounded below (counts, distances)."""
    return st.builds(
        Estimate,
        value=_finite(min_value, 1e9),
        qualifier=st.sampled_from(Qualifier),
        sigma=st.none() | _finite(0, 1e6),
    )


def instants() -> st.SearchStrategy[Instant]:
    """Instants as the wire makes them: an ISO 8601 wording with a zone, and its UTC."""
    return st.builds(
        lambda moment, qualifier, sigma: Instant(
            moment.astimezone(UTC), moment.isoformat(), qualifier, sigma
        ),
        aware_datetimes(),
        st.sampled_from(Qualifier),
        st.none() | _finite(0, 1e6),
    )


def positions() -> st.SearchStrategy[Position]:
    """Valid positions."""
    return st.builds(
        Position,
        lat=_finite(-90, 90),
        lon=_finite(-180, 180),
        sigma_km=st.none() | _finite(0, 1e4),
        description=st.text(_WIRE_CHARS, max_size=30),
    )


def observations() -> st.SearchStrategy[Observation]:
    """Missile launches and nuclear tests with any mix of optional fields."""
    optional = st.none
    launches = st.builds(
        MissileLaunch,
        time=instants(),
        missile_class=st.sampled_from(MissileClass),
        launch_position=optional() | positions(),
        count=optional() | estimates(0),
        apogee_km=optional() | estimates(0),
        range_km=optional() | estimates(0),
        flight_time_min=optional() | estimates(0),
        impact_time=optional() | instants(),
        impact_position=optional() | positions(),
        inside_eez=optional() | st.booleans(),
        lofted=optional() | st.booleans(),
    )
    tests = st.builds(
        NuclearTest,
        time=instants(),
        position=optional() | positions(),
        magnitude=optional() | estimates(),
        yield_kt=optional() | estimates(0),
    )
    return launches | tests


_titles = st.text(_WIRE_CHARS, min_size=1, max_size=60).filter(lambda s: bool(s.strip()))


# --- strategies: domain objects --------------------------------------------------------------


@st.composite
def products(
    draw: st.DrawFn,
    originators: st.SearchStrategy[str] | None = None,
    topics: st.SearchStrategy[frozenset[str]] | None = None,
    with_observations: bool = False,
) -> Product:
    """Any valid product: any originator (parties and outsiders), classification, REL TO subset
    (always naming the originator), ORCON, precedence, topics in and out of scope.

    `with_observations=True` adds up to two observations and free text (slower; for wire tests).
    """
    originator = draw(originators if originators is not None else codes())
    rel_to = draw(st.frozensets(st.sampled_from(CODES), max_size=len(CODES))) | {originator}
    marks = Markings(
        originator=originator,
        classification=draw(st.sampled_from(Classification)),
        rel_to=rel_to,
        precedence=draw(st.sampled_from(Precedence)),
        orcon=draw(st.booleans()),
    )
    if with_observations:
        title = draw(_titles)
        text = draw(st.text(_WIRE_CHARS, max_size=80))
        author = draw(st.text(_WIRE_CHARS, min_size=1, max_size=20))
        created_at = draw(aware_datetimes())
        obs = tuple(draw(st.lists(observations(), max_size=2)))
    else:
        title, text, author, created_at, obs = "A launch", "", "analyst", T0, ()
    return Product(
        id=draw(st.sampled_from(PRODUCT_IDS)),
        version=draw(st.integers(min_value=1, max_value=5)),
        markings=marks,
        topics=draw(topics if topics is not None else topic_sets()),
        title=title,
        text=text,
        source_reliability=draw(st.sampled_from(SourceReliability)),
        information_credibility=draw(st.sampled_from(InformationCredibility)),
        created_at=created_at,
        author=author,
        observations=obs,
    )


@st.composite
def consents(
    draw: st.DrawFn,
    originators: st.SearchStrategy[str] | None = None,
    hubs: st.SearchStrategy[str] | None = None,
) -> Consent:
    """Any valid consent: random originator, hub, recipient (a third party), per-product or a
    standing rule (topic patterns × ceiling × precedences), issue and expiry around T0."""
    originator = draw(originators if originators is not None else codes())
    hub = draw(hubs if hubs is not None else st.sampled_from((HUB, HUB, HUB, *CODES)))
    recipient = draw(codes().filter(lambda c: c not in (originator, hub)))
    issued_at = draw(moments())
    expires_at = draw(
        st.none()
        | st.integers(min_value=1, max_value=96).map(lambda h: issued_at + timedelta(hours=h))
    )
    common: dict[str, Any] = {
        "id": draw(st.uuids().map(str)),
        "originator": originator,
        "hub": hub,
        "recipient": recipient,
        "issued_at": issued_at,
        "expires_at": expires_at,
    }
    if draw(st.booleans()):
        return Consent(product_id=draw(st.sampled_from(PRODUCT_IDS)), **common)
    return Consent(
        topics=draw(st.frozensets(st.sampled_from(TOPIC_PATTERNS), min_size=1, max_size=3)),
        max_classification=draw(st.sampled_from(Classification)),
        precedences=draw(st.frozensets(st.sampled_from(Precedence))),
        **common,
    )


@st.composite
def held_consents(
    draw: st.DrawFn, consent_strategy: st.SearchStrategy[Consent] | None = None
) -> HeldConsent:
    """A consent as held, revoked at some time (or not)."""
    c = draw(consent_strategy if consent_strategy is not None else consents())
    return HeldConsent(c, draw(st.none() | moments()))


def suspensions() -> st.SearchStrategy[frozenset[str]]:
    """Sets of suspended channel ids as the arrangement writes them, plus irrelevant ids."""
    ids = [c.id for c in arrangement().channels] + ["KOR-JPN", "USA-CHN"]
    return st.frozensets(st.sampled_from(ids), max_size=3)


def movements(
    products_strategy: st.SearchStrategy[Product] | None = None,
) -> st.SearchStrategy[Movement]:
    """One hop: any product, any sender, any recipient (parties and outsiders)."""
    return st.builds(
        Movement,
        product=products_strategy if products_strategy is not None else products(),
        sender=codes(),
        recipient=codes(),
    )


def situations(max_consents: int = 6) -> st.SearchStrategy[Situation]:
    """The shipped arrangement with random consents, suspensions and a time around T0."""
    return st.builds(
        Situation,
        arrangement=st.just(arrangement()),
        consents=st.lists(held_consents(), max_size=max_consents).map(tuple),
        suspended=suspensions(),
        now=moments(),
    )


# --- what analysts send over the API -----------------------------------------------------


def draft(originator: str = "KOR", **fields: Any) -> dict[str, Any]:
    """A product draft as an analyst writes it (API JSON): a SECRET FLASH launch report to all
    three parties unless `fields` say otherwise; `observations=[]` leaves the launch figures
    out. KOR and JPN report the 18 Dec 2023 launch with their own figures (tisa.demo.launches)."""
    from tisa.demo.launches import JPN_LAUNCH, KOR_LAUNCH

    launches = {"KOR": KOR_LAUNCH, "JPN": JPN_LAUNCH}
    body: dict[str, Any] = {
        "title": f"{originator} launch report {uuid.uuid4().hex[:8]}",
        "text": "Detected and tracked; details follow.",
        "classification": "SECRET",
        "rel_to": ["USA", "KOR", "JPN"],
        "precedence": "FLASH",
        "topics": ["dprk.missile.launch"],
        "source_reliability": "B",
        "information_credibility": "2",
    }
    if originator in launches:
        body["observations"] = [{"kind": "missile-launch", **launches[originator]}]
    body.update(fields)
    return body


def gps_photo(size: tuple[int, int] = (1600, 1200)) -> bytes:
    """A JPEG with the metadata a field camera leaves: GPS position, camera make and model."""
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.paste((20, 20, 220), (width // 2, 0, width, height // 2))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "EOS R5"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)  # 0x8825
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (38.0, 54.0, 0.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (125.0, 42.0, 0.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, exif=exif)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as check:  # the tests' premise: the metadata is there
        assert check.getexif()[ExifTags.Base.Make] == "Canon"
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    return data


# --- TLS certificates ---------------------------------------------------------------------


def _tls_name(party: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"tisa node {party}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, party),
        ]
    )


def _tls_certificate(
    party: str,
    *,
    ca: bool,
    signer: ec.EllipticCurvePrivateKey | None = None,
    issuer: x509.Name | None = None,
) -> tuple[bytes, bytes]:
    """A node-like TLS certificate (SAN localhost and 127.0.0.1, server and client use) for a
    fresh P-256 key; self-signed unless `signer` (a private key) and `issuer` (a Name) are given.
    Returns (key_pem, cert_pem)."""
    now = datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    signer = signer or key
    usage = dict.fromkeys(
        (
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_tls_name(party))
        .issuer_name(issuer or _tls_name(party))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=ca, **usage), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
        .sign(signer, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def legacy_tls_identity(party: str) -> tuple[bytes, bytes]:
    """A node's (key_pem, cert_pem) as tisa made them before leaf-only identities: self-signed,
    CA:TRUE with path length 0 and keyCertSign (what nodes set up then still have)."""
    return _tls_certificate(party, ca=True)


def minted_tls_identity(
    issuer_key_pem: bytes, issuer_cert_pem: bytes, party: str
) -> tuple[bytes, bytes]:
    """A (key_pem, cert_pem) for `party`'s name and a fresh key, issued in the name of the
    certificate `issuer_cert_pem` and signed with its key `issuer_key_pem`: what whoever holds
    a node's TLS key can make."""
    issuer_key = serialization.load_pem_private_key(issuer_key_pem, password=None)
    assert isinstance(issuer_key, ec.EllipticCurvePrivateKey)
    issuer = x509.load_pem_x509_certificate(issuer_cert_pem).subject
    return _tls_certificate(party, ca=False, signer=issuer_key, issuer=issuer)
