"""Cleaning an attachment before release, so that it betrays no sources or methods.

`scrub` writes a cleaned copy and reports, in lines a release officer reads, what it removed:

    photo   re-encoded from its pixels alone: EXIF (GPS, camera, serial numbers, dates, maker
            notes), XMP, IPTC, ICC profiles (colours converted to sRGB first), comments, PNG
            text chunks and TIFF tags beyond the image data are gone; EXIF orientation is
            applied to the pixels before the EXIF goes
    PDF     rewritten without the document information dictionary, XMP metadata (document and
            pages) and application private data (PieceInfo); every page is kept
    DOCX    core and app properties emptied, custom properties and the thumbnail removed (with
            [Content_Types].xml and _rels/.rels kept consistent), embedded photos cleaned as
            photos are, member timestamps zeroed
    other   text, CSV, JSON, archives and binary data are copied unchanged

Files that cannot be cleaned safely are refused: decompression and zip bombs, truncated or
garbage images and PDFs, encrypted PDFs, macro-enabled or malformed DOCX packages.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tisa.attachments.kinds import (
    HEAD_SIZE,
    AttachmentRefused,
    Detected,
    Kind,
    MediaType,
    detect,
)
from tisa.attachments.scrub_docx import check_zip, scrub_docx
from tisa.attachments.scrub_image import scrub_image
from tisa.attachments.scrub_pdf import scrub_pdf
from tisa.attachments.spool import COPY_CHUNK


@dataclass(frozen=True)
class ScrubReport:
    """What scrubbing removed, one line per finding ("EXIF GPS position 38.9N 125.7E")."""

    removed: tuple[str, ...]

    @property
    def lines(self) -> tuple[str, ...]:
        """The lines to show a person: what was removed, or "nothing to remove"."""
        return self.removed or ("nothing to remove",)


def scrub(src: Path, dst: Path, detected: Detected) -> ScrubReport:
    """Write a cleaned copy of `src` (which is `detected`) to `dst`, and say what went.

    The content of `src` is detected again and must agree with `detected`. On any failure
    after `dst` is opened, `dst` is removed.

    Raises:
        AttachmentRefused: the content is not `detected` (or is refused by `detect`); or it
            cannot be cleaned safely: an image declaring more than
            `MAX_PIXELS` pixels, a zip bomb (over `MAX_DOCX_SIZE`, or compressed more than
            `MAX_RATIO` to one), a truncated or garbage image, PDF or DOCX, an encrypted PDF,
            a DOCX with macros or encrypted members, an animated PNG.
        OSError: `src` cannot be read or `dst` cannot be written.
    """
    with src.open("rb") as source:
        found = detect(source.read(HEAD_SIZE), name=src.name)
        if found != detected:
            raise AttachmentRefused(
                f"the file is {found.label} by its content, not {detected.label}"
            )
        source.seek(0)
        try:
            # TIFF pages are appended by reading back what was written: the target is read-write.
            with dst.open("w+b") as target:
                removed = _scrub(source, target, detected)
        except BaseException:
            dst.unlink(missing_ok=True)
            raise
    return ScrubReport(tuple(removed))


def _scrub(source: IO[bytes], target: IO[bytes], detected: Detected) -> list[str]:
    if detected.kind is Kind.PHOTO:
        return scrub_image(source, target, detected.media_type, what="this photo")
    if detected.media_type is MediaType.PDF:
        return scrub_pdf(source, target)
    if detected.media_type is MediaType.DOCX:
        return scrub_docx(source, target)
    if detected.media_type is MediaType.ZIP:
        check_zip(source, max_size=None, what="this ZIP archive")
        source.seek(0)
    shutil.copyfileobj(source, target, COPY_CHUNK)
    return []
