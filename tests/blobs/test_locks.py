"""One Partial per digest, across the objects of a process (and, by flock, across processes:
see test_partials.py for a receiver that is killed)."""

from __future__ import annotations

import pytest
from blob_factories import digest_of, pattern

from tisa.blobs.store import BlobStore
from tisa.errors import Conflict

# -- locks ----------------------------------------------------------------------------------------


def test_one_partial_per_digest(store: BlobStore) -> None:
    data = pattern(200)
    digest = digest_of(data)
    first = store.partial(digest, len(data))
    with pytest.raises(Conflict, match="already being received"):
        store.partial(digest, len(data))
    with pytest.raises(Conflict):
        store.discard_partial(digest)
    first.close()
    with pytest.raises(Conflict, match="closed"):
        first.append(b"x")
    store.partial(digest, len(data)).close()
