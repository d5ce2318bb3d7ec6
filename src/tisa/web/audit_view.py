"""The audit log as people read it: actions in words, details as labelled values, and the
same entries as JSON Lines or CSV for an auditor's own tools.

Entries keep their codes (`product.view`, `reasons`) in the store and in the exports; only
the page puts words on them, in the reader's language (the words are marked here for the
catalogs and translated by the template).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from tisa.api.views import entry_view
from tisa.audit.chain import Entry
from tisa.store.audit import Action
from tisa.web.i18n import N_
from tisa.web.vocabulary import MESSAGE_KINDS, ROLES, STATES

# Openings outnumber everything else on a busy node: hidden unless asked for.
HIDDEN_BY_DEFAULT = (Action.VIEW.value,)

ACTIONS: dict[str, str] = {
    Action.CREATE.value: N_("draft created"),
    Action.AMEND.value: N_("amendment drafted"),
    Action.REVISE.value: N_("draft revised"),
    Action.SEND_BACK.value: N_("draft sent back"),
    Action.RELEASE.value: N_("released"),
    Action.RELAY.value: N_("relayed"),
    Action.RECEIVE.value: N_("received"),
    Action.DENY.value: N_("refused by the rules"),
    Action.REFUSE.value: N_("message refused"),
    Action.RECEIPT.value: N_("receipt"),
    Action.RECALL.value: N_("recalled"),
    Action.VIEW.value: N_("opened"),
    Action.CONSENT_GRANT.value: N_("consent granted"),
    Action.CONSENT_DENY.value: N_("consent denied"),
    Action.CONSENT_REVOKE.value: N_("consent revoked"),
    Action.CONSENT_REQUEST.value: N_("consent requested"),
    Action.CHANNEL_SUSPEND.value: N_("channel suspended"),
    Action.CHANNEL_RESUME.value: N_("channel resumed"),
    Action.SIGN_IN.value: N_("signed in"),
    Action.SIGN_IN_FAILED.value: N_("sign-in failed"),
    Action.USER_PASSWORD.value: N_("password changed"),
    Action.USER_UNLOCK.value: N_("user unlocked"),
    Action.USER_DISABLE.value: N_("user disabled"),
    Action.USER_ENABLE.value: N_("user enabled"),
    Action.WARNING_RAISED.value: N_("missile warning raised"),
    Action.WARNING_WITHDRAWN.value: N_("missile warning withdrawn"),
    Action.WARNING_ENDED.value: N_("missile warning ended"),
    Action.DEAD_LETTER.value: N_("delivery given up"),
    Action.CANCEL.value: N_("delivery cancelled"),
    Action.CHECKPOINT.value: N_("log checkpoint signed"),
    Action.PEER_CHECKPOINT.value: N_("peer's checkpoint kept"),
    Action.INCONSISTENT.value: N_("peer's log inconsistent"),
    Action.UPLOAD.value: N_("attachment uploaded"),
    Action.DOWNLOAD.value: N_("attachment downloaded"),
}

KEYS: dict[str, str] = {
    "reason": N_("reason"),
    "reasons": N_("reasons"),
    "rules": N_("rules"),
    "allowed": N_("allowed"),
    "digest": N_("digest"),
    "consent": N_("consent"),
    "user": N_("user"),
    "kind": N_("kind"),
    "via": N_("via"),
    "request": N_("request"),
    "problem": N_("problem"),
    "name": N_("name"),
    "error": N_("error"),
    "track": N_("track"),
    "to": N_("to"),
    "from": N_("from"),
    "terms": N_("terms"),
    "standing": N_("standing rule"),
    "sources": N_("sources"),
    "size": N_("size"),
    "sessions_ended": N_("sessions ended"),
    "removed": N_("removed"),
    "refused": N_("refused"),
    "received_at": N_("received at"),
    "precedence": N_("precedence"),
    "path": N_("path"),
    "originator": N_("originator"),
    "original": N_("original"),
    "media_type": N_("media type"),
    "lat": N_("latitude"),
    "lon": N_("longitude"),
    "locked_until": N_("locked until"),
    "failed_logins": N_("failed sign-ins"),
    "impact": N_("impact"),
    "channel": N_("channel"),
    "cancelled": N_("cancelled"),
    "areas": N_("areas"),
    "recipient": N_("recipient"),
    "topics": N_("topics"),
    "max_classification": N_("highest classification"),
    "expires_at": N_("expires"),
    "peer": N_("peer"),
    "role": N_("role"),
}
YES, NO = N_("yes"), N_("no")


@dataclass(frozen=True)
class Detail:
    """One labelled value of an entry's detail: the label's words (a nested key adds a word),
    and the value as text, or as a word to translate (`word`: yes, no)."""

    label: tuple[str, ...]
    text: str
    word: bool = False


# Values that are words of the UI's vocabulary (a delivery's state, a role, a message's
# kind) are translated.
WORDS = frozenset(STATES) | frozenset(ROLES) | frozenset(MESSAGE_KINDS)


def _label(key: str) -> str:
    return KEYS.get(key, key.replace("_", " "))


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _flat(value: Any) -> str:
    """A nested value in one line: lists joined, objects as label: value pairs."""
    if isinstance(value, Mapping):
        return "; ".join(f"{_label(str(k))}: {_flat(v)}" for k, v in value.items() if _shown(v))
    if isinstance(value, list | tuple):
        return ", ".join(_flat(v) for v in value if _shown(v))
    if isinstance(value, bool):
        return YES if value else NO
    return _scalar(value)


def _shown(value: Any) -> bool:
    # Nothing to say is said by nothing ("reasons: []" was noise on every allowed entry).
    return value is not None and value != "" and value != [] and value != {}


def details(detail: Mapping[str, Any]) -> list[Detail]:
    """An entry's detail as labelled values, empty ones left out; one level of nesting
    becomes its own rows (a consent's terms), deeper levels one line each."""
    out: list[Detail] = []
    for key, value in detail.items():
        if not _shown(value):
            continue
        if isinstance(value, bool):
            out.append(Detail((_label(key),), YES if value else NO, word=True))
        elif isinstance(value, Mapping):
            for sub, inner in value.items():
                if not _shown(inner):
                    continue
                if isinstance(inner, bool):
                    out.append(Detail((_label(key), _label(str(sub))), YES if inner else NO, True))
                elif isinstance(inner, str) and inner in WORDS:
                    out.append(Detail((_label(key), _label(str(sub))), inner, word=True))
                else:
                    out.append(Detail((_label(key), _label(str(sub))), _flat(inner)))
        elif isinstance(value, str) and value in WORDS:
            out.append(Detail((_label(key),), value, word=True))
        else:
            out.append(Detail((_label(key),), _flat(value)))
    return out


# The entry's own fields, in the chain's order: what a hash is computed over, and the hashes.
CSV_COLUMNS = tuple(f.name for f in fields(Entry))


def jsonl(entries: Iterable[Entry]) -> Iterator[str]:
    """One JSON object per line per entry, as the API shows it, hashes included, so the
    chain can be checked again from the export."""
    for e in entries:
        yield json.dumps(entry_view(e), ensure_ascii=False, sort_keys=True) + "\n"


def csv_rows(entries: Iterable[Entry]) -> Iterator[str]:
    """A header, then one row per entry; the detail as compact JSON in one cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for e in entries:
        view = entry_view(e)
        view["detail"] = json.dumps(view["detail"], ensure_ascii=False, sort_keys=True)
        writer.writerow([_cell(view[c]) for c in CSV_COLUMNS])
        yield flush()


def _cell(value: Any) -> str:
    # A cell a spreadsheet would run as a formula (a peer's refusal text, a user name chosen
    # to start with "=") is written as text: the export is read in such tools.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
