"""Words the UI shows that come from data, not templates, marked so the catalogs hold them.

Templates translate them where they are shown (`_(state)`); listing them here is what puts
them in messages.pot when the catalogs are extracted.
"""

from __future__ import annotations

from tisa.web.i18n import N_

ROLES = (N_("analyst"), N_("release-officer"), N_("admin"), N_("auditor"))
STATES = (
    N_("draft"),
    N_("released"),
    N_("received"),
    N_("queued"),
    N_("sent"),
    N_("delivered"),
    N_("held"),
    N_("denied"),
    N_("open"),
    N_("granted"),
)
# What a federation message carries (audit details name it).
MESSAGE_KINDS = (
    N_("envelope"),
    N_("receipt"),
    N_("consent"),
    N_("revocation"),
    N_("consent-request"),
    N_("consent-denial"),
    N_("recall"),
)
PARTIES = (N_("United States of America"), N_("Republic of Korea"), N_("Japan"))
ATTACHMENT_KINDS = (N_("photo"), N_("document"), N_("data"))
# Admiralty grading, in words (the letter and digit stay as they are in every language).
SOURCE_RELIABILITY = {
    "A": N_("completely reliable"),
    "B": N_("usually reliable"),
    "C": N_("fairly reliable"),
    "D": N_("not usually reliable"),
    "E": N_("unreliable"),
    "F": N_("reliability cannot be judged"),
}
INFORMATION_CREDIBILITY = {
    "1": N_("confirmed by other sources"),
    "2": N_("probably true"),
    "3": N_("possibly true"),
    "4": N_("doubtful"),
    "5": N_("improbable"),
    "6": N_("truth cannot be judged"),
}

# How a reported figure is hedged, as the compose form offers it.
QUALIFIERS = {
    "exact": N_("exactly"),
    "about": N_("about"),
    "at_least": N_("at least"),
    "more_than": N_("more than"),
    "up_to": N_("up to"),
    "less_than": N_("less than"),
}
