"""Fusion: the fused picture of the events a node's products describe.

Pure domain code: no framework, no I/O, no clock. The edge (tisa.services.events) hands in the
product versions a user may read, as `Holding`s; `build_events` returns the events.

    Holding (product version held)  ──current_reports──▶  Report (one observation of the
                                                          latest version of each product)
    Report…  ──correlate──▶  Group (one real-world event: kind, members, stable id)
    Group    ──figures_of / fuse / find_disagreements──▶  Event (figures side by side,
                                                          fused estimates, disagreements)
"""

from tisa.fusion.correlation import Group, correlate
from tisa.fusion.disagreement import Disagreement, find_disagreements
from tisa.fusion.estimates import Fused, fuse
from tisa.fusion.picture import Event, build_event, build_events
from tisa.fusion.quantities import Figure, Quantity, default_sigma, figures_of
from tisa.fusion.reports import Holding, Report, Source, current_reports

__all__ = [
    "Disagreement",
    "Event",
    "Figure",
    "Fused",
    "Group",
    "Holding",
    "Quantity",
    "Report",
    "Source",
    "build_event",
    "build_events",
    "correlate",
    "current_reports",
    "default_sigma",
    "figures_of",
    "find_disagreements",
    "fuse",
]
