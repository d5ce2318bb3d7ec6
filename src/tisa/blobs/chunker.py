"""Cutting plaintext into a blob's chunks and sealing each, the one routine every writer uses;
and its reverse, `open_chunks`, the one routine every reader uses.

Plaintext arrives in pieces of any size; `Chunker` keeps at most one chunk of it in memory and
hands each sealed record to a sink (which writes it to a file) in order, exactly once.

A chunk's record depends on whether it is the last (see `tisa.blobs.format`), so a chunk goes
out only once that is known:

* with the blob's size announced (a partial receive), every chunk's length and whether it is
  the last are known in advance: a chunk goes out the moment it is full, so that whole chunks
  reach the disk as early as possible and a resumed receive loses at most the tail;
* without it (an upload), a full chunk is held back until a byte after it arrives, and
  `Chunker.finish` seals whatever is held as the last chunk (an empty one for an empty blob).

Pure: the sink does the I/O, and so does the `read_at` function `open_chunks` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from cryptography.exceptions import InvalidTag

from tisa.blobs.cipher import TAG_SIZE, ChunkCipher, Plaintext
from tisa.blobs.format import Header, Layout
from tisa.errors import SignatureInvalid


class Chunker:
    """Seals the chunks of one blob under `cipher` and hands each record to `sink`.

    `size` is the blob's plaintext size when announced in advance (None: known at `finish`);
    `index` is the number of chunks already written, to resume a receive after them.
    """

    def __init__(
        self,
        cipher: ChunkCipher,
        chunk_size: int,
        sink: Callable[[bytes], None],
        *,
        size: int | None = None,
        index: int = 0,
    ) -> None:
        """Raises nothing."""
        self._cipher = cipher
        self._chunk_size = chunk_size
        self._sink = sink
        self._layout = None if size is None else Layout(chunk_size, size)
        self._index = index
        self._buffer = bytearray(chunk_size if size is None else min(chunk_size, size))
        self._filled = 0  # bytes of the next chunk held in `_buffer`

    @property
    def index(self) -> int:
        """Chunks handed to the sink so far, counting those before a resume."""
        return self._index

    def write(self, data: Plaintext) -> None:
        """Take more plaintext; seal and hand on every chunk whose record is now known.

        With an announced size, the caller keeps the total within it.

        Raises:
            Whatever the sink raises; the chunker is then unusable (drop it).
        """
        view = memoryview(data).cast("B")
        announced = self._layout is not None
        pos = 0
        while pos < len(view):
            want = self._want()
            if not announced and self._filled == want:
                # Held back until a byte after it arrived: it is not the last.
                self._seal(memoryview(self._buffer)[:want], last=False)
                self._filled = 0
            rest = len(view) - pos
            if not self._filled and (rest > want or (announced and rest == want)):
                self._seal(view[pos : pos + want], last=self._is_last())
                pos += want
                continue
            take = min(want - self._filled, rest)
            self._buffer[self._filled : self._filled + take] = view[pos : pos + take]
            self._filled += take
            pos += take
            if announced and self._filled == want:
                self._seal(memoryview(self._buffer)[:want], last=self._is_last())
                self._filled = 0

    def finish(self) -> None:
        """Seal what is held as the last chunk, if it has not gone out yet (with an announced
        size, all of it written, only an empty blob's one empty chunk is still to go).

        Raises:
            Whatever the sink raises.
        """
        if self._layout is None or self._index < self._layout.count:
            self._seal(memoryview(self._buffer)[: self._filled], last=True)
            self._filled = 0

    def drop(self) -> None:
        """Let go of the chunk held in memory. Raises nothing."""
        self._buffer = bytearray()
        self._filled = 0

    def _want(self) -> int:
        if self._layout is None:
            return self._chunk_size
        return self._layout.plain_length(self._index)

    def _is_last(self) -> bool:
        return self._layout is not None and self._index == self._layout.count - 1

    def _seal(self, plain: Plaintext, *, last: bool) -> None:
        self._sink(self._cipher.seal_chunk(self._index, plain, last))
        self._index += 1


def open_chunks(
    read_at: Callable[[int, int], bytes], header: Header, label: str, *, start: int = 0
) -> Iterator[bytes]:
    """The plaintext of each chunk of `header`'s blob from chunk `start` on, each verified before
    it is yielded; `read_at(length, offset)` reads the file (fewer bytes only at its end).

    Raises:
        SignatureInvalid: naming `label`: a record is short (the file was truncated) or does not
            verify (altered, moved, another blob's); raised while iterating.
        Whatever `read_at` raises.
    """
    layout = header.layout
    for index in range(start, layout.count):
        length = layout.plain_length(index) + TAG_SIZE
        record = read_at(length, layout.record_offset(index))
        if len(record) != length:
            raise SignatureInvalid(f"{label}: the stored file was truncated")
        try:
            plain = header.cipher.open_chunk(index, record, index == layout.count - 1)
        except InvalidTag as exc:
            raise SignatureInvalid(
                f"{label}: chunk {index} does not verify; the stored file was altered"
            ) from exc
        yield plain
