"""Fixtures: `trio`, three open runtimes on fresh stores (tests/world.py)."""

from world import trio, trio_template  # noqa: F401 - fixtures, found by name
