"""The domain: the arrangement, markings, products and consents, the rules of release, and
the wire forms that are signed. Pure: no framework, no storage, no I/O, no clock."""
