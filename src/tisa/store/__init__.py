"""The node's storage: tables, migrations, queries."""
