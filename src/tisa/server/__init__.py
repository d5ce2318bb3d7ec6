"""Serving a node: its HTTP servers and every background task, supervised."""
