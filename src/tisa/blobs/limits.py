"""What blobs may take: bytes per blob, the disk claimed before each write, all partials' bytes.

Every write of a writer or partial first claims its bytes from the store's `Space` (a node's
`tisa.store.disk.Reserve`), so attachments never take the free space kept for products; a partial is
refused up front when its announced size would break the reserve, or would take the partials
folder past `MAX_PARTIALS` bytes (a store's `max_partials`) in all. A write past a writer's
`max_size`, a partial's announced size or the format's chunk count is `BlobTooLarge`.
"""

from __future__ import annotations

from typing import Final, Protocol

from tisa.errors import TooLarge
from tisa.store.disk import MIB, Unlimited

# All partials together may hold at most this much: four of the largest attachments a channel
# allows (4 GiB each by default) in flight at once.
MAX_PARTIALS: Final = 16 * 1024 * MIB
UNLIMITED: Final = Unlimited()
"""The space of a store used outside a node: every claim is granted."""


class BlobTooLarge(TooLarge):
    """More bytes than a writer's `max_size` or a partial's announced size."""


class Space(Protocol):
    """Where the store claims disk before it writes (a node's `tisa.store.disk.Reserve`)."""

    def claim(self, what: str, size: int) -> None:
        """Refuse `size` more bytes of `what` ("upload", "blob", "preview") when they would
        take space that must stay free.

        Raises:
            DiskFull: the write must not happen.
        """
        ...
