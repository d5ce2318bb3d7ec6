"""The `tisa` command."""
