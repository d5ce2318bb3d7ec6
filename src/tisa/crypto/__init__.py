"""Cryptography for tisa: canonical JSON, Ed25519 keys, compact JWS and TLS identities.

Everything here is pure over bytes: no files, sockets or clocks (callers pass `now`).
Import from the submodules (`tisa.crypto.jws`, `tisa.crypto.keys`, ...).
"""
