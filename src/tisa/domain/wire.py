"""Wire forms: JSON as it crosses the API and the federation, parsed into domain objects.

Pydantic validates the shape here, at the edge; the frozen domain objects in tisa.domain.model
enforce the invariants. `*_to_wire` functions give the one JSON form that is signed and sent, so a
product's manifest is the same bytes however it was made.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from tisa.domain.consent import Consent, ConsentKind, StreamMode
from tisa.domain.markings import (
    Classification,
    InformationCredibility,
    Markings,
    Precedence,
    SourceReliability,
)
from tisa.domain.model import (
    Attachment,
    AttachmentKind,
    Estimate,
    Instant,
    MissileClass,
    MissileLaunch,
    NuclearTest,
    Observation,
    Position,
    Product,
    Qualifier,
    Unit,
)
from tisa.errors import InputInvalid, TisaError

M = TypeVar("M", bound=BaseModel)

# JSON has booleans and numbers of its own: 0 or "true" is not a boolean and true is not a
# number, though pydantic's lax mode would convert them (an int is still a number).
Flag = Annotated[bool, Field(strict=True)]
Number = Annotated[float, Field(strict=True)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple, frozenset, set)):
        return any(_has_nul(v) for v in value)
    return False


class Strict(BaseModel):
    """Wire models: unknown fields are refused, values are frozen, NUL never passes."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL cannot store U+0000 in text; no tisa field has a use for it.
        if _has_nul(value):
            raise ValueError("text must not contain NUL (U+0000) characters")
        return value


class EstimateIn(Strict):
    """A reported figure: `{"value": 6000, "qualifier": "more_than"}`."""

    value: Number
    qualifier: Qualifier = Qualifier.ABOUT
    sigma: Number | None = None
    # As the originator wrote it ("nmi", "s"); absent: the unit the field is named for.
    unit: Unit | None = None

    def to_domain(self) -> Estimate:
        return Estimate(self.value, self.qualifier, self.sigma, self.unit)


class InstantIn(Strict):
    """A time with its zone as reported: `{"original": "2022-11-18T10:14+09:00"}`."""

    original: str = Field(min_length=10, max_length=64)
    qualifier: Qualifier = Qualifier.ABOUT
    sigma_s: Number | None = None

    @field_validator("original")
    @classmethod
    def _zoned(cls, value: str) -> str:
        # Checked here, not in to_domain, so the error names the field that is wrong.
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"time {value!r} is not ISO 8601") from None
        if moment.tzinfo is None:
            raise ValueError(f"time {value!r} has no time zone; add one, e.g. +09:00")
        return value

    def to_domain(self) -> Instant:
        moment = datetime.fromisoformat(self.original)
        return Instant(moment.astimezone(UTC), self.original, self.qualifier, self.sigma_s)


class PositionIn(Strict):
    """A place in degrees with an uncertainty in km."""

    lat: Number
    lon: Number
    sigma_km: Number | None = None
    description: str = Field(default="", max_length=300)

    def to_domain(self) -> Position:
        return Position(self.lat, self.lon, self.sigma_km, self.description)


class MissileLaunchIn(Strict):
    """A missile launch observation."""

    kind: Literal["missile-launch"]
    time: InstantIn
    missile_class: MissileClass = MissileClass.UNKNOWN
    launch_position: PositionIn | None = None
    count: EstimateIn | None = None
    apogee_km: EstimateIn | None = None
    range_km: EstimateIn | None = None
    flight_time_min: EstimateIn | None = None
    impact_time: InstantIn | None = None
    impact_position: PositionIn | None = None
    inside_eez: Flag | None = None
    lofted: Flag | None = None

    def to_domain(self) -> MissileLaunch:
        return MissileLaunch(
            time=self.time.to_domain(),
            missile_class=self.missile_class,
            launch_position=_opt(self.launch_position),
            count=_opt(self.count),
            apogee_km=_opt(self.apogee_km),
            range_km=_opt(self.range_km),
            flight_time_min=_opt(self.flight_time_min),
            impact_time=_opt(self.impact_time),
            impact_position=_opt(self.impact_position),
            inside_eez=self.inside_eez,
            lofted=self.lofted,
        )


class NuclearTestIn(Strict):
    """A nuclear test observation."""

    kind: Literal["nuclear-test"]
    time: InstantIn
    position: PositionIn | None = None
    magnitude: EstimateIn | None = None
    yield_kt: EstimateIn | None = None

    def to_domain(self) -> NuclearTest:
        return NuclearTest(
            time=self.time.to_domain(),
            position=_opt(self.position),
            magnitude=_opt(self.magnitude),
            yield_kt=_opt(self.yield_kt),
        )


def _opt(value: Any) -> Any:
    return None if value is None else value.to_domain()


ObservationIn = Annotated[MissileLaunchIn | NuclearTestIn, Field(discriminator="kind")]


class AttachmentIn(Strict):
    """An attachment as the manifest names it."""

    digest: str = Field(pattern="^sha256:[0-9a-f]{64}$")
    size: int = Field(ge=0)
    media_type: str = Field(min_length=3, max_length=100)
    kind: AttachmentKind
    name: str = Field(min_length=1, max_length=255)

    def to_domain(self) -> Attachment:
        return Attachment(self.digest, self.size, self.media_type, self.kind, self.name)


class DraftIn(Strict):
    """What an analyst writes: everything but identity, version and originator."""

    title: str = Field(min_length=1, max_length=300)
    text: str = Field(default="", max_length=100_000)
    classification: str
    rel_to: list[str] = Field(min_length=1, max_length=16)
    orcon: Flag = False
    precedence: Precedence = Precedence.ROUTINE
    topics: list[str] = Field(min_length=1, max_length=16)
    source_reliability: SourceReliability = SourceReliability.F
    information_credibility: InformationCredibility = InformationCredibility.CANNOT_BE_JUDGED
    observations: list[ObservationIn] = Field(default_factory=list, max_length=64)
    # Uploads of this node, by digest; the node fills in what the manifest says of each.
    attachments: list[str] = Field(default_factory=list, max_length=32)

    def to_domain(
        self,
        *,
        id: str,
        version: int,
        originator: str,
        author: str,
        created_at: datetime,
        attachments: tuple[Attachment, ...] = (),
    ) -> Product:
        """Raises: InputInvalid (MarkingInvalid) when the content breaks a domain rule."""
        markings = Markings(
            originator=originator,
            classification=Classification.parse(self.classification),
            rel_to=frozenset(self.rel_to),
            precedence=self.precedence,
            orcon=self.orcon,
        )
        return Product(
            id=id,
            version=version,
            markings=markings,
            topics=frozenset(self.topics),
            title=self.title,
            text=self.text,
            source_reliability=self.source_reliability,
            information_credibility=self.information_credibility,
            created_at=created_at,
            author=author,
            observations=tuple(o.to_domain() for o in self.observations),
            attachments=attachments,
        )


class ManifestIn(DraftIn):
    """A signed product manifest: the draft plus identity, version and provenance."""

    type: Literal["product"]
    arrangement: str
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=32)  # type: ignore[assignment]
    id: str = Field(min_length=36, max_length=36)
    version: int = Field(ge=1, le=1_000_000)
    originator: str = Field(min_length=3, max_length=3)
    author: str = Field(min_length=1, max_length=100)
    created_at: AwareDatetime

    def product(self) -> Product:
        """Raises: InputInvalid when the content breaks a domain rule."""
        return self.to_domain(
            id=self.id,
            version=self.version,
            originator=self.originator,
            author=self.author,
            created_at=self.created_at,
            attachments=tuple(a.to_domain() for a in self.attachments),
        )


def parse(model: type[M], data: Any) -> M:
    """Validate `data` against `model`.

    Raises:
        InputInvalid: naming the first bad field and what is wrong with it.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InputInvalid(f"{where}: {first['msg']}") from None


def to_product(draft: DraftIn, **identity: Any) -> Product:
    """`draft.to_domain(**identity)` with every domain error as InputInvalid.

    Raises:
        InputInvalid: the draft breaks a domain rule.
    """
    try:
        return draft.to_domain(**identity)
    except InputInvalid:
        raise
    except TisaError as exc:
        raise InputInvalid(exc.reason) from exc


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, the one time format on the wire."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _estimate(e: Estimate | None) -> dict[str, Any] | None:
    if e is None:
        return None
    out: dict[str, Any] = {"value": e.value, "qualifier": e.qualifier.value}
    if e.sigma is not None:
        out["sigma"] = e.sigma
    if e.unit is not None:
        out["unit"] = e.unit.value
    return out


def _instant(i: Instant | None) -> dict[str, Any] | None:
    if i is None:
        return None
    out: dict[str, Any] = {"original": i.original, "qualifier": i.qualifier.value}
    if i.sigma_s is not None:
        out["sigma_s"] = i.sigma_s
    return out


def _position(p: Position | None) -> dict[str, Any] | None:
    if p is None:
        return None
    out: dict[str, Any] = {"lat": p.lat, "lon": p.lon, "description": p.description}
    if p.sigma_km is not None:
        out["sigma_km"] = p.sigma_km
    return out


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def observation_to_wire(o: Observation) -> dict[str, Any]:
    """The JSON form of one observation (what `ObservationIn` reads back)."""
    if isinstance(o, MissileLaunch):
        return _drop_none(
            {
                "kind": o.kind.value,
                "time": _instant(o.time),
                "missile_class": o.missile_class.value,
                "launch_position": _position(o.launch_position),
                "count": _estimate(o.count),
                "apogee_km": _estimate(o.apogee_km),
                "range_km": _estimate(o.range_km),
                "flight_time_min": _estimate(o.flight_time_min),
                "impact_time": _instant(o.impact_time),
                "impact_position": _position(o.impact_position),
                "inside_eez": o.inside_eez,
                "lofted": o.lofted,
            }
        )
    return _drop_none(
        {
            "kind": o.kind.value,
            "time": _instant(o.time),
            "position": _position(o.position),
            "magnitude": _estimate(o.magnitude),
            "yield_kt": _estimate(o.yield_kt),
        }
    )


def draft_to_wire(p: Product) -> dict[str, Any]:
    """The JSON form of a product's content (what `DraftIn` reads back)."""
    m = p.markings
    return {
        "title": p.title,
        "text": p.text,
        "classification": m.classification.name,
        "rel_to": sorted(m.rel_to),
        "orcon": m.orcon,
        "precedence": m.precedence.value,
        "topics": sorted(p.topics),
        "source_reliability": p.source_reliability.value,
        "information_credibility": p.information_credibility.value,
        "observations": [observation_to_wire(o) for o in p.observations],
        "attachments": [a.digest for a in p.attachments],
    }


def manifest_to_wire(p: Product, arrangement_digest: str) -> dict[str, Any]:
    """The manifest the originator signs (what `ManifestIn` reads back)."""
    return {
        "type": "product",
        "arrangement": arrangement_digest,
        "id": p.id,
        "version": p.version,
        "originator": p.originator,
        "author": p.author,
        "created_at": iso(p.created_at),
        **draft_to_wire(p),
        "attachments": [attachment_to_wire(a) for a in p.attachments],
    }


def attachment_to_wire(a: Attachment) -> dict[str, Any]:
    """An attachment as the manifest names it (what `AttachmentIn` reads back)."""
    return {
        "digest": a.digest,
        "size": a.size,
        "media_type": a.media_type,
        "kind": a.kind.value,
        "name": a.name,
    }


class ConsentIn(Strict):
    """A consent as the originator's release officer asks for it."""

    recipient: str = Field(min_length=3, max_length=3)
    product_id: str | None = Field(default=None, min_length=36, max_length=36)
    topics: list[str] = Field(default_factory=list, max_length=32)
    max_classification: str | None = None
    precedences: list[Precedence] = Field(default_factory=list)
    expires_at: AwareDatetime | None = None
    kind: ConsentKind = ConsentKind.PRODUCTS
    modes: list[StreamMode] = Field(default_factory=list, max_length=2)


class ConsentToken(ConsentIn):
    """A signed consent's payload."""

    type: Literal["consent"]
    id: str = Field(min_length=36, max_length=36)
    originator: str = Field(min_length=3, max_length=3)
    hub: str = Field(min_length=3, max_length=3)
    issued_at: AwareDatetime

    def consent(self) -> Consent:
        """Raises: InputInvalid when the terms break a domain rule."""
        try:
            return Consent(
                id=self.id,
                originator=self.originator,
                hub=self.hub,
                recipient=self.recipient,
                issued_at=self.issued_at,
                product_id=self.product_id,
                topics=frozenset(self.topics),
                max_classification=(
                    None
                    if self.max_classification is None
                    else Classification.parse(self.max_classification)
                ),
                precedences=frozenset(self.precedences),
                expires_at=self.expires_at,
                kind=self.kind,
                modes=frozenset(self.modes),
            )
        except InputInvalid:
            raise
        except TisaError as exc:
            raise InputInvalid(exc.reason) from exc


def consent_to_wire(c: Consent) -> dict[str, Any]:
    """A consent's signed payload (what `ConsentToken` reads back)."""
    return _drop_none(
        {
            "type": "consent",
            "id": c.id,
            "originator": c.originator,
            "hub": c.hub,
            "recipient": c.recipient,
            "issued_at": iso(c.issued_at),
            "product_id": c.product_id,
            "topics": sorted(c.topics),
            "max_classification": (
                None if c.max_classification is None else c.max_classification.name
            ),
            "precedences": sorted(p.value for p in c.precedences),
            "expires_at": None if c.expires_at is None else iso(c.expires_at),
            # Named only when not products, so a product consent's payload is as it always was.
            "kind": None if c.kind is ConsentKind.PRODUCTS else c.kind.value,
            "modes": sorted(m.value for m in c.modes) or None,
        }
    )
