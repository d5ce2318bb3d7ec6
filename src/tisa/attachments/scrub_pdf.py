"""Cleaning a PDF: rewritten without its metadata (see `tisa.attachments.scrub`)."""

from __future__ import annotations

import warnings
from typing import IO

from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject

from tisa.attachments.kinds import (
    AttachmentRefused,
)


def scrub_pdf(source: IO[bytes], target: IO[bytes]) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pypdf warns of what it recovers from; failures raise
        try:
            reader = PdfReader(source)
            if reader.is_encrypted:
                raise AttachmentRefused("this PDF is encrypted; encrypted PDFs are not allowed")
            removed: list[str] = []
            info = reader.metadata
            if info:
                keys = ", ".join(str(key).lstrip("/") for key in info)
                removed.append(f"PDF metadata: {keys}")
            writer = PdfWriter()
            writer.clone_reader_document_root(reader)
            writer.metadata = None
            root = writer.root_object
            if "/Metadata" in root:
                writer.xmp_metadata = None
                removed.append("XMP packet")
            if NameObject("/PieceInfo") in root:
                del root[NameObject("/PieceInfo")]
                removed.append("PDF application private data (PieceInfo)")
            removed += _scrub_pdf_pages(writer)
            writer.compress_identical_objects(remove_duplicates=False, remove_unreferenced=True)
            writer.write(target)
        except AttachmentRefused:
            raise
        except Exception as exc:  # pypdf fails on bad input in many ways; all mean malformed
            raise AttachmentRefused(f"this PDF is not readable: {exc}") from exc
    return removed


def _scrub_pdf_pages(writer: PdfWriter) -> list[str]:
    counts = {"/Metadata": 0, "/PieceInfo": 0}
    for page in writer.pages:
        for key in counts:
            if key in page:
                del page[NameObject(key)]
                counts[key] += 1
    lines = []
    if counts["/Metadata"]:
        lines.append(f"XMP packets of {counts['/Metadata']} page(s)")
    if counts["/PieceInfo"]:
        lines.append(f"application private data (PieceInfo) of {counts['/PieceInfo']} page(s)")
    return lines
