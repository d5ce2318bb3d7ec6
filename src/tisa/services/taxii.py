"""TAXII 2.1 over the node's STIX feed, every object through the one gate.

Each reader sees the STIX objects of the product versions the gate lets them open now
(clearance, need-to-know), drawn afresh from the product verified at this reading; an object
whose product they may not see is not found, exactly as one that does not exist. Bundles
posted to the inbox become drafts at this node, each checked as an analyst's draft is;
nothing leaves without a release officer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from tisa.domain.model import Product
from tisa.errors import AccessDenied, InputInvalid, NotFound, TisaError
from tisa.relay.context import NodeContext
from tisa.relay.stix_feed import families, first_created, moment
from tisa.services.accounts import Role, User
from tisa.services.drafts import WRITERS, Drafts
from tisa.services.reading import Reading
from tisa.stix import export, ingest
from tisa.store import products, stix
from tisa.store.stix import FeedRow, Query

MEDIA_STIX = "application/stix+json;version=2.1"
LIMIT_DEFAULT = 100
LIMIT_MAX = 1000
# Rows looked at per request, at most: a reader who may see little of a long feed gets a
# short page with `more` rather than a request that reads the whole store.
SCAN_MAX = 5_000
_BATCH = 200
# Earlier rows of a shared object (a marking many products carry) checked for one the reader
# may see; past this the object is shown again, which repeats it but never shows more.
_DUPLICATES_CHECKED = 50
# Collection ids are fixed for every node, so a TAXII client's settings survive a restart.
_NAMESPACE = uuid.UUID("4f2d0a5e-58b1-4d7a-9f0e-2c6b1f3f6d21")
_TYPE = re.compile(r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]")
_ID = re.compile(
    r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_SPEC = re.compile(r"\d\.\d")
#: The query parameters TAXII's object, manifest and versions endpoints take.
PARAMS = frozenset(
    {
        "added_after",
        "limit",
        "next",
        "match[id]",
        "match[type]",
        "match[version]",
        "match[spec_version]",
    }
)


def stamp(us: int) -> str:
    """A TAXII timestamp (RFC 3339, UTC, microseconds) of µs since the epoch."""
    moment = datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _instant(name: str, text: str) -> int:
    """µs since the epoch of an RFC 3339 time a client sent.

    Raises:
        InputInvalid: not an RFC 3339 time with its zone.
    """
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InputInvalid(f"{name}: {text!r} is not an RFC 3339 time") from exc
    if when.tzinfo is None or "T" not in text.upper():
        raise InputInvalid(f"{name}: {text!r} is not an RFC 3339 time with its zone")
    return stix.micros(when)


@dataclass(frozen=True)
class Collection:
    """A TAXII collection: a view of the feed (everything, FLASH, one topic family) or the
    inbox that turns posted bundles into drafts."""

    key: str
    title: str
    description: str
    flash: bool = False
    family: str | None = None
    inbox: bool = False

    @property
    def id(self) -> str:
        """The collection's fixed id."""
        return str(uuid.uuid5(_NAMESPACE, self.key))

    def resource(self, user: User) -> dict[str, Any]:
        """The collection as TAXII describes it to `user`."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "can_read": not self.inbox,
            "can_write": self.inbox and user.role in WRITERS,
            "media_types": [MEDIA_STIX],
        }

    def query(self) -> Query:
        """The feed rows this collection holds, before the gate."""
        return Query(flash=self.flash, family=self.family)


@dataclass(frozen=True)
class Versions:
    """Which versions of an object a request asks for (match[version]): any of first, last,
    all, or exact times. The default is the last."""

    first: bool = False
    last: bool = True
    all: bool = False
    times: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Filters:
    """A request's filters, parsed; `after_seq` is where its `next` token resumes."""

    added_after_us: int | None = None
    limit: int = LIMIT_DEFAULT
    types: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    versions: Versions = field(default_factory=Versions)
    spec_ok: bool = True
    after_seq: int = 0
    token: str | None = None

    def binding(self, user: User, collection: Collection, object_id: str | None) -> str:
        """What a `next` token is bound to: the caller, the collection, the object and every
        filter but the page size."""
        v = self.versions
        parts = [
            user.username,
            collection.id,
            object_id or "",
            str(self.added_after_us),
            ",".join(sorted(self.types)),
            ",".join(sorted(self.ids)),
            f"{v.first}{v.last}{v.all}" + ",".join(str(t) for t in sorted(v.times)),
            str(self.spec_ok),
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _list(name: str, text: str, pattern: re.Pattern[str]) -> frozenset[str]:
    values = [v.strip() for v in text.split(",")]
    for value in values:
        if not pattern.fullmatch(value):
            raise InputInvalid(f"{name}: {value!r} is not a valid value")
    return frozenset(values)


def parse_filters(params: Sequence[tuple[str, str]]) -> Filters:
    """A request's query parameters as filters.

    Raises:
        InputInvalid: an unknown parameter, one given twice, or a malformed value.
    """
    seen: dict[str, str] = {}
    for name, value in params:
        if name not in PARAMS:
            raise InputInvalid(
                f"unknown query parameter {name!r}; TAXII filters are {sorted(PARAMS)}"
            )
        if name in seen:
            raise InputInvalid(
                f"{name} is given twice; list several values in one, comma-separated"
            )
        seen[name] = value
    filters = Filters(token=seen.get("next"))
    if "added_after" in seen:
        filters = replace(filters, added_after_us=_instant("added_after", seen["added_after"]))
    if "limit" in seen:
        text = seen["limit"].strip()
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise InputInvalid(f"limit: {seen['limit']!r} is not a whole number of 1 or more")
        filters = replace(filters, limit=min(int(text), LIMIT_MAX))
    if "match[type]" in seen:
        filters = replace(filters, types=_list("match[type]", seen["match[type]"], _TYPE))
    if "match[id]" in seen:
        filters = replace(filters, ids=_list("match[id]", seen["match[id]"], _ID))
    if "match[spec_version]" in seen:
        specs = _list("match[spec_version]", seen["match[spec_version]"], _SPEC)
        filters = replace(filters, spec_ok="2.1" in specs)
    if "match[version]" in seen:
        wanted = [v.strip() for v in seen["match[version]"].split(",")]
        times = frozenset(
            _instant("match[version]", v) for v in wanted if v not in ("first", "last", "all")
        )
        filters = replace(
            filters,
            versions=Versions("first" in wanted, "last" in wanted, "all" in wanted, times),
        )
    return filters


@dataclass(frozen=True)
class Page:
    """What one request shows: the chosen rows with their objects, and whether more follow."""

    rows: list[FeedRow]
    objects: list[dict[str, Any]]
    more: bool
    next: str | None

    @property
    def first_added(self) -> str | None:
        """X-TAXII-Date-Added-First."""
        return stamp(min(r.added_us for r in self.rows)) if self.rows else None

    @property
    def last_added(self) -> str | None:
        """X-TAXII-Date-Added-Last."""
        return stamp(max(r.added_us for r in self.rows)) if self.rows else None


class _Sight:
    """What one reader may see, decided once per product version within one request."""

    def __init__(self, taxii: Taxii, user: User) -> None:
        self._taxii = taxii
        self._user = user
        self._held: dict[tuple[str, int], Product | None] = {}
        self._first: dict[tuple[str, int], int | None] = {}

    def product(self, row: FeedRow) -> Product | None:
        """The product of a row if the reader may see it now (the gate), else None."""
        key = row.product
        if key is None:
            return None
        if key not in self._held:
            with self._taxii.ctx.db.read() as conn:
                stored = products.get(conn, *key)
            held = None if stored is None else self._taxii.reading.visible(self._user, stored)
            self._held[key] = None if held is None else held.product
        return self._held[key]

    def prefetch(self, rows: Sequence[FeedRow]) -> None:
        """Decide at once for every product version of `rows` not decided yet: one read of
        the store for all of them, then the verifier and the gate for each."""
        keys = [k for k in {r.product for r in rows} if k is not None and k not in self._held]
        if not keys:
            return
        with self._taxii.ctx.db.read() as conn:
            stored = products.get_many(conn, keys)
        for key in keys:
            row = stored.get(key)
            held = None if row is None else self._taxii.reading.visible(self._user, row)
            self._held[key] = None if held is None else held.product

    def sees(self, row: FeedRow) -> bool:
        """Whether the reader may see this row's object: a common object always, a product's
        object if the gate lets the reader see that product version now."""
        return row.product is None or self.product(row) is not None

    def first_seen(self, object_id: str, version_us: int, query: Query) -> int | None:
        """Where the reader may first see this object version in the collection (its first
        row whose product they may see), looked for once per request among its first rows;
        None if none of those."""
        key = (object_id, version_us)
        if key not in self._first:
            with self._taxii.ctx.db.read() as conn:
                rows = stix.rows_of(conn, object_id, version_us, query, limit=_DUPLICATES_CHECKED)
            self._first[key] = next((r.seq for r in rows if self.sees(r)), None)
        return self._first[key]


class Taxii:
    """The node's TAXII 2.1 collections. Constructing it does no I/O."""

    def __init__(
        self, ctx: NodeContext, *, reading: Reading, drafts: Drafts, secret: bytes
    ) -> None:
        self.ctx = ctx
        self.reading = reading
        self._drafts = drafts
        self._secret = secret
        # One collection per topic family of the arrangement's scope, as products are filed.
        in_scope = families(ctx.arrangement.scope)
        self.collections: tuple[Collection, ...] = (
            Collection("all", "Everything", "Every product you may read, as STIX 2.1."),
            Collection("flash", "FLASH", "FLASH products only.", flash=True),
            *(
                Collection(f"family:{f}", f"{f}.*", f"Products on {f}.* topics.", family=f)
                for f in in_scope
            ),
            Collection(
                "inbox",
                "Drafts inbox",
                "Post STIX 2.1 here: each report becomes a draft at this node, for a "
                "release officer to release.",
                inbox=True,
            ),
        )
        self._bodies = lru_cache(maxsize=4096)(self._objects_of)

    def collection(self, collection_id: str) -> Collection:
        """Raises:
        NotFound: no such collection.
        """
        for found in self.collections:
            if found.id == collection_id:
                return found
        raise NotFound(f"no collection {collection_id}")

    def readable(self, collection_id: str) -> Collection:
        """Raises:
        NotFound: no such collection.
        AccessDenied: the inbox, which holds nothing to read.
        """
        found = self.collection(collection_id)
        if found.inbox:
            raise AccessDenied("the inbox takes bundles; read from the other collections")
        return found

    # -- next tokens ------------------------------------------------------------------------

    def _token(self, seq: int, binding: str) -> str:
        body = f"{seq}.{binding}".encode()
        mac = hmac.new(self._secret, body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def _resume(self, filters: Filters, binding: str) -> Filters:
        """The filters with the position their `next` token names.

        Raises:
            InputInvalid: a token that is not this node's, or was made for another query
                or another caller.
        """
        if filters.token is None:
            return filters
        try:
            raw = base64.urlsafe_b64decode(filters.token + "=" * (-len(filters.token) % 4))
            body, mac = raw[:-16], raw[-16:]
            expected = hmac.new(self._secret, body, hashlib.sha256).digest()[:16]
            seq_text, bound = body.decode().split(".", 1)
            good = hmac.compare_digest(mac, expected) and bound == binding
        except (ValueError, UnicodeDecodeError):
            good = False
        if not good:
            raise InputInvalid("next: not a token this query was given; start again without it")
        return replace(filters, after_seq=int(seq_text))

    # -- choosing rows -----------------------------------------------------------------------

    def _chosen(
        self,
        sight: _Sight,
        row: FeedRow,
        held: list[stix.Held],
        query: Query,
        versions: Versions,
    ) -> bool:
        if not sight.sees(row):
            return False
        mine = next(h for h in held if h.version_us == row.version_us)
        if mine.first_seq != row.seq:
            # An object several products carry (a marking) is shown once: at the first of
            # its rows the reader may see.
            first = sight.first_seen(row.object_id, row.version_us, query)
            if first is not None and first != row.seq:
                return False
        if versions.all or row.version_us in versions.times:
            return True

        def seen(h: stix.Held) -> bool:
            return sight.first_seen(row.object_id, h.version_us, query) is not None

        # First and last are of the versions this reader may see (a later version may be
        # above their clearance).
        later = [h for h in held if h.version_us > row.version_us]
        earlier = [h for h in reversed(held) if h.version_us < row.version_us]
        if versions.last and not any(seen(h) for h in later):
            return True
        return versions.first and not any(seen(h) for h in earlier)

    def _select(
        self, user: User, collection: Collection, filters: Filters, object_id: str | None
    ) -> tuple[list[FeedRow], bool, str | None, _Sight]:
        binding = filters.binding(user, collection, object_id)
        filters = self._resume(filters, binding)
        sight = _Sight(self, user)
        if not filters.spec_ok:
            return [], False, None, sight
        ids = filters.ids if object_id is None else frozenset({object_id})
        if object_id is not None and filters.ids and object_id not in filters.ids:
            return [], False, None, sight
        query = replace(
            collection.query(),
            after_seq=filters.after_seq,
            added_after_us=filters.added_after_us,
            types=filters.types,
            ids=ids,
        )
        chosen: list[FeedRow] = []
        scanned = 0
        position = filters.after_seq
        while len(chosen) < filters.limit and scanned < SCAN_MAX:
            with self.ctx.db.read() as conn:
                rows = stix.page(conn, replace(query, after_seq=position), _BATCH)
                held = stix.versions_held(conn, [r.object_id for r in rows], query)
            if not rows:
                return chosen, False, None, sight
            # Only as many as the page may still take: a batch read ahead is not decided for
            # nothing (a later row is decided when it is reached).
            sight.prefetch(rows[: filters.limit - len(chosen)])
            for row in rows:
                position = row.seq
                scanned += 1
                if self._chosen(sight, row, held[row.object_id], query, filters.versions):
                    chosen.append(row)
                    if len(chosen) == filters.limit:
                        break
        with self.ctx.db.read() as conn:
            more = bool(stix.page(conn, replace(query, after_seq=position), 1))
        return chosen, more, self._token(position, binding) if more else None, sight

    # -- objects -----------------------------------------------------------------------------

    def _objects_of(
        self, product: Product, recalled_at: datetime | None, reissued_at: datetime | None
    ) -> dict[str, dict[str, Any]]:
        with self.ctx.db.read() as conn:
            created = first_created(conn, product)
        here = self.ctx.party
        objects = export.version_objects(
            product,
            self.ctx.arrangement,
            here=here,
            first_created=created,
            recalled_at=recalled_at,
            reissued_at=reissued_at,
        )
        objects += export.marking_objects(product, self.ctx.arrangement, here=here)
        return {o["id"]: o for o in objects}

    def _common(self) -> dict[str, dict[str, Any]]:
        return {o["id"]: o for o in export.common_objects(self.ctx.arrangement)}

    def _body(self, sight: _Sight, row: FeedRow) -> dict[str, Any]:
        """The object a row names, drawn from its product as the gate let the reader see it
        (a recall's and a report written again carry the row's time as `modified`)."""
        product = sight.product(row)
        if product is None:
            return self._common()[row.object_id]
        at = moment(row.version)
        recalled_at = at if row.revoked else None
        reissued_at = at if row.reissued else None
        return self._bodies(product, recalled_at, reissued_at)[row.object_id]

    def objects(
        self, user: User, collection_id: str, filters: Filters, object_id: str | None = None
    ) -> Page:
        """The objects of a collection `user` may see now, oldest added first.

        Raises:
            NotFound: no such collection; for one object, none of it the user may see.
            AccessDenied: the inbox.
            InputInvalid: a `next` token that is not this query's.
        """
        collection = self.readable(collection_id)
        if object_id is not None and not _ID.fullmatch(object_id):
            raise NotFound(f"no object {object_id}")
        rows, more, token, sight = self._select(user, collection, filters, object_id)
        if object_id is not None and not rows and filters.token is None:
            self._require_object(user, collection, object_id)
        return Page(rows, [self._body(sight, r) for r in rows], more, token)

    def _require_object(self, user: User, collection: Collection, object_id: str) -> None:
        """Raises NotFound unless the user may see some version of the object."""
        every = Filters(versions=Versions(last=False, all=True), limit=1)
        rows, _, _, _ = self._select(user, collection, every, object_id)
        if not rows:
            raise NotFound(f"no object {object_id} in collection {collection.id}")

    def manifest(self, user: User, collection_id: str, filters: Filters) -> Page:
        """The manifest of a collection: which object versions `user` may see, and when
        each was added.

        Raises:
            NotFound: no such collection.
            AccessDenied: the inbox.
            InputInvalid: a `next` token that is not this query's.
        """
        collection = self.readable(collection_id)
        rows, more, token, _ = self._select(user, collection, filters, None)
        records = [
            {
                "id": r.object_id,
                "date_added": stamp(r.added_us),
                "version": r.version,
                "media_type": MEDIA_STIX,
            }
            for r in rows
        ]
        return Page(rows, records, more, token)

    def versions(self, user: User, collection_id: str, object_id: str, filters: Filters) -> Page:
        """The versions of one object `user` may see, oldest first.

        Raises:
            NotFound: no such collection, or no version of the object the user may see.
            AccessDenied: the inbox.
        """
        if not _ID.fullmatch(object_id):
            raise NotFound(f"no object {object_id}")
        every = replace(filters, versions=Versions(last=False, all=True))
        page = self.objects(user, collection_id, every, object_id)
        return replace(page, objects=[{"version": r.version} for r in page.rows])

    # -- inbox -------------------------------------------------------------------------------

    def post(self, user: User, collection_id: str, envelope: Any) -> dict[str, Any]:
        """Turn a posted envelope's reports into drafts at this node, each checked as an
        analyst's draft is (scope, ceiling, REL TO, the poster's clearance); the status says
        what became of every object.

        Raises:
            NotFound: no such collection.
            AccessDenied: not the inbox, or the user may not write drafts.
            InputInvalid: not a TAXII envelope of STIX objects.
        """
        collection = self.collection(collection_id)
        if not collection.inbox:
            raise AccessDenied("this collection is read-only; post bundles to the inbox")
        if not isinstance(envelope, Mapping) or not isinstance(envelope.get("objects"), list):
            raise InputInvalid('the body must be a TAXII envelope: {"objects": [...]}')
        return self.take(user, envelope["objects"])

    def take(self, user: User, objects: list[Any]) -> dict[str, Any]:
        """Each report (or grouping) among `objects` as a draft at this node, checked as an
        analyst's draft is; the TAXII status of the whole.

        Raises:
            AccessDenied: the user may not write drafts.
            InputInvalid: no objects, or not STIX 2.1 at all.
        """
        user.require(*WRITERS)
        if not objects:
            raise InputInvalid("there are no objects to take")
        bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
        requested = self.ctx.clock()
        successes: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        read = ingest.read(bundle, self.ctx.arrangement)
        if not read:
            raise InputInvalid("no report or grouping among the objects: nothing to draft")
        for report_id, outcome in read:
            if isinstance(outcome, ingest.Refusal):
                failures.append(_status_entry(objects, report_id, outcome.reason))
                continue
            problems = self._drafts.check(user, outcome)
            if problems:
                failures.append(_status_entry(objects, report_id, "; ".join(problems)))
                continue
            try:
                product = self._drafts.create(user, outcome)
            except TisaError as exc:
                failures.append(_status_entry(objects, report_id, exc.reason))
                continue
            successes.append(_status_entry(objects, report_id, f"draft {product.id} v1"))
        status_id = str(uuid.uuid4())
        status: dict[str, Any] = {
            "id": status_id,
            "status": "complete",
            "request_timestamp": stamp(stix.micros(requested)),
            "total_count": len(read),
            "success_count": len(successes),
            "successes": successes,
            "failure_count": len(failures),
            "failures": failures,
            "pending_count": 0,
        }
        with self.ctx.db.begin() as conn:
            stix.save_status(conn, status_id, user.username, status, requested)
        return status

    def bundle(self, user: User, product_id: str, version: int | None = None) -> bytes:
        """One product version (the latest by default) as a STIX bundle, in canonical bytes
        (the same version gives the same bytes); opening it is audited as a view.

        Raises:
            NotFound: not held, or the user may not open it.
            Damaged: held, but it no longer holds together.
        """
        held = self.reading.read(user, product_id, version)
        if held.row.manifest is None:
            raise NotFound(
                f"{product_id} v{held.row.version} is a draft: only signed versions export"
            )
        with self.ctx.db.read() as conn:
            created = first_created(conn, held.product)
        whole = export.bundle(
            held.product,
            self.ctx.arrangement,
            here=self.ctx.party,
            first_created=created,
            recalled_at=held.row.recalled_at,
        )
        return export.canonical(whole)

    def status(self, user: User, status_id: str) -> dict[str, Any]:
        """The status of a bundle this user posted.

        Raises:
            NotFound: no such status, or another user's.
        """
        with self.ctx.db.read() as conn:
            found = stix.status(conn, status_id)
        if found is None or (found[0] != user.username and user.role is not Role.ADMIN):
            raise NotFound(f"no status {status_id}")
        return found[1]


def _status_entry(objects: Sequence[Any], object_id: str, message: str) -> dict[str, Any]:
    """A status detail: the object and the version of it that was read (its latest)."""
    entry: dict[str, Any] = {"id": object_id, "message": message}
    versions = [
        version
        for obj in objects
        if isinstance(obj, Mapping) and obj.get("id") == object_id
        for version in (obj.get("modified") or obj.get("created"),)
        if isinstance(version, str)
    ]
    if versions:
        entry["version"] = max(versions)
    return entry


def envelope_json(page: Page) -> bytes:
    """A page as a TAXII envelope."""
    body: dict[str, Any] = {"more": page.more, "objects": page.objects}
    if page.next is not None:
        body["next"] = page.next
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
