"""Fixtures: `trio`, three open runtimes on fresh stores (tests/world.py)."""

from harness.trio import trio, trio_template  # noqa: F401 - fixtures, found by name
