"""The one chunker: any split of the same content gives the same blob, through a writer or a
resumed receive."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from blob_factories import (
    digest_of,
    read_all,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.blobs.format import BlobRef
from tisa.blobs.store import BlobStore

# -- properties -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    content=st.binary(max_size=400),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    restarts=st.lists(st.booleans(), max_size=13),
)
def test_any_append_sizes_reassemble(content: bytes, cuts: list[int], restarts: list[bool]) -> None:
    digest = digest_of(content)
    bounds = sorted({0, len(content), *(c for c in cuts if c < len(content))})
    with (
        tempfile.TemporaryDirectory() as tmp,
        BlobStore(Path(tmp), b"k" * 32, chunk_size=16) as store,
    ):
        # Receive, closing and reopening (a restart) at the given points; resend from offset.
        partial = store.partial(digest, len(content))
        for piece, (start, end) in enumerate(itertools.pairwise(bounds)):
            if piece < len(restarts) and restarts[piece]:
                partial.close()
                partial = store.partial(digest, len(content))
                assert partial.offset == start // 16 * 16
                partial.append(content[partial.offset : start])
            partial.append(content[start:end])
        ref = partial.complete()
        assert ref == BlobRef(digest, len(content))
        assert read_all(store, digest) == content
        # The same pieces through a writer give the same blob.
        with store.writer(max_size=len(content)) as writer:
            for start, end in itertools.pairwise(bounds):
                writer.write(content[start:end])
            assert writer.commit() == ref
        assert list(store.iter_digests()) == [digest]
