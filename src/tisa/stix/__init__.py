"""STIX 2.1: tisa's products as STIX objects (`export`), and STIX bundles as drafts (`ingest`).

Pure: no framework, no clock, no I/O beyond reading the vendored extension schemas at import.
The mapping, its ids, markings and extensions are described in docs/stix.md.
"""
