"""The tests' own house: what the api, web, store and e2e tests build on, written once.

    factories   domain objects, hypothesis strategies, drafts, photos, TLS certificates
    clusters    created (not started) three-node clusters, copied from one template, and the
                runtimes opened over them
    users       who signs in: party of a user, bearer headers, signing in, adding users
    waiting     polling until a condition holds, with a bounded wait that names what it waited for
    databases   PostgreSQL for tests: reachability, throw-away databases, one migrated database
                per session with a rolled-back transaction per test
    nodes       the in-process harness of the analyst and federation APIs (`Harness`)
    web         the in-process harness of the web UI (`Web`)
    network     real node processes over real TLS (`Net`, `running`, `Networks`)
    pages       damaging a SQLite file's pages, as a failing disk would

Fixtures live in the conftest.py files and only delegate here. pytest puts tests/ on sys.path
(`pythonpath` in pyproject.toml), so tests import `from harness.factories import product`.
"""
