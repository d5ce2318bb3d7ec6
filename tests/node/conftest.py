"""Fixtures: `trio`, three open runtimes on fresh stores (harness/trio.py)."""

from harness.trio import trio, trio_template  # noqa: F401 - fixtures, found by name
