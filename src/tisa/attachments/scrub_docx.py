"""Cleaning a DOCX package, and the checks every ZIP passes (see `tisa.attachments.scrub`)."""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from typing import IO, Final
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml

from tisa.attachments.kinds import (
    HEAD_SIZE,
    AttachmentRefused,
    Kind,
    detect,
)
from tisa.attachments.scrub_image import scrub_image
from tisa.attachments.spool import COPY_CHUNK, spool

MAX_DOCX_SIZE: Final = 200 * 1024 * 1024
"""The most a DOCX package may unpack to, all members together."""

MAX_RATIO: Final = 100
"""The highest compression ratio an archive, or one member of it, may have (beyond the floor)."""

RATIO_FLOOR: Final = 1024 * 1024
"""Below this many unpacked bytes an archive, or a member, may compress as well as it likes."""

MAX_MEMBERS: Final = 10_000
"""The most members a DOCX or ZIP may have."""


def check_zip(source: IO[bytes], *, max_size: int | None, what: str) -> None:
    """Refuse a ZIP that is malformed or a bomb, reading only its central directory.

    Raises:
        AttachmentRefused: as `scrub` says.
    """
    try:
        with zipfile.ZipFile(source) as archive:
            _check_members(archive.infolist(), max_size=max_size, what=what)
    except AttachmentRefused:
        raise
    except Exception as exc:  # zipfile fails on bad input in many ways; all mean malformed
        raise AttachmentRefused(f"{what} is not a readable ZIP archive: {exc}") from exc


def _check_members(infos: list[zipfile.ZipInfo], *, max_size: int | None, what: str) -> None:
    if len(infos) > MAX_MEMBERS:
        raise AttachmentRefused(f"{what} has {len(infos)} members, more than {MAX_MEMBERS}")
    total = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    if max_size is not None and total > max_size:
        raise AttachmentRefused(
            f"{what} would unpack to {total:,} bytes, more than {max_size:,}: "
            "refused as a possible zip bomb"
        )
    for size, compressed, part in [
        (total, packed, "as a whole"),
        *((i.file_size, i.compress_size, i.filename) for i in infos),
    ]:
        if size > RATIO_FLOOR and size > MAX_RATIO * max(compressed, 1):
            raise AttachmentRefused(
                f"{what} ({part}) is compressed {size // max(compressed, 1)} to 1, "
                f"more than {MAX_RATIO} to 1: refused as a possible zip bomb"
            )


_CONTENT_TYPES: Final = "[Content_Types].xml"
_PACKAGE_RELS: Final = "_rels/.rels"
_MAX_XML: Final = 4 * 1024 * 1024
_ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)

_EMPTY_CORE: Final = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
    b'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
)
_EMPTY_APP: Final = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'docPropsVTypes"/>'
)


@dataclass(frozen=True)
class _Package:
    """Where a DOCX keeps its metadata, from its package relationships."""

    core: str
    app: str
    dropped: frozenset[str]  # custom properties and thumbnail


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _read_xml(archive: zipfile.ZipFile, name: str) -> Element:
    info = archive.getinfo(name)
    if info.file_size > _MAX_XML:
        raise AttachmentRefused(f"{name} in this DOCX is {info.file_size:,} bytes; too large")
    root: Element = parse_xml(archive.read(info))
    return root


def _filled(root: Element) -> list[str]:
    """The names of `root`'s children that hold something."""
    return [
        _local(child.tag)
        for child in root
        if (child.text or "").strip() or len(child) or child.attrib.get("name")
    ]


def _package(archive: zipfile.ZipFile, names: set[str]) -> _Package:
    core, app, dropped = "docProps/core.xml", "docProps/app.xml", {"docProps/custom.xml"}
    if _PACKAGE_RELS in names:
        for rel in _read_xml(archive, _PACKAGE_RELS):
            kind = rel.get("Type", "")
            target = rel.get("Target", "").lstrip("/")
            if rel.get("TargetMode") == "External":
                continue
            if kind.endswith("/metadata/core-properties"):
                core = target
            elif kind.endswith("/extended-properties"):
                app = target
            elif kind.endswith(("/custom-properties", "/metadata/thumbnail")):
                dropped.add(target)
    return _Package(core, app, frozenset(dropped & names))


def _without_parts(root: Element, dropped: frozenset[str], *, attribute: str) -> bytes:
    """`root` (content types or relationships: a flat list of empty elements) less the entries
    naming a dropped part, written out again.

    Raises:
        AttachmentRefused: `root` is not such a flat list.
    """
    namespace = root.tag[1:].partition("}")[0]
    lines = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n',
        f"<{_local(root.tag)} xmlns={quoteattr(namespace)}>",
    ]
    for entry in root:
        if (
            entry.get("TargetMode") != "External"
            and entry.get(attribute, "").lstrip("/") in dropped
        ):
            continue
        flat = not len(entry) and not (entry.text or "").strip()
        if not flat or entry.tag[1:].partition("}")[0] != namespace or "{" in "".join(entry.attrib):
            raise AttachmentRefused(f"this DOCX document has an unexpected {_local(root.tag)}")
        attributes = "".join(f" {key}={quoteattr(value)}" for key, value in entry.attrib.items())
        lines.append(f"<{_local(entry.tag)}{attributes}/>")
    lines.append(f"</{_local(root.tag)}>")
    return "".join(lines).encode()


def scrub_docx(source: IO[bytes], target: IO[bytes]) -> list[str]:
    what = "this DOCX document"
    try:
        with (
            zipfile.ZipFile(source) as archive,
            zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as output,
        ):
            return _rewrite_docx(archive, output, what)
    except AttachmentRefused:
        raise
    except (DefusedXmlException, ParseError) as exc:
        raise AttachmentRefused(f"{what} holds unsafe or malformed XML: {exc}") from exc
    except Exception as exc:  # zipfile and XML fail on bad input in many ways
        raise AttachmentRefused(f"{what} is not a readable DOCX package: {exc}") from exc


def _rewrite_docx(archive: zipfile.ZipFile, output: zipfile.ZipFile, what: str) -> list[str]:
    infos = archive.infolist()
    _check_members(infos, max_size=MAX_DOCX_SIZE, what=what)
    names = {info.filename for info in infos}
    if len(names) != len(infos):
        raise AttachmentRefused(f"{what} names a member twice")
    if any(info.flag_bits & 0x1 for info in infos):
        raise AttachmentRefused(f"{what} has encrypted members")
    if _CONTENT_TYPES not in names or "word/document.xml" not in names:
        raise AttachmentRefused(f"{what} lacks {_CONTENT_TYPES} or word/document.xml")
    content_types = _read_xml(archive, _CONTENT_TYPES)
    if any(
        "macroenabled" in entry.get("ContentType", "").lower() for entry in content_types
    ) or any(name.lower().endswith("vbaproject.bin") for name in names):
        raise AttachmentRefused(f"{what} carries macros; macros are not allowed")
    package = _package(archive, names)
    removed = _docprops_lines(archive, package, names)
    replaced = {package.core: _EMPTY_CORE, package.app: _EMPTY_APP}
    if package.dropped:
        replaced[_CONTENT_TYPES] = _without_parts(
            content_types, package.dropped, attribute="PartName"
        )
        if _PACKAGE_RELS in names:
            rels = _read_xml(archive, _PACKAGE_RELS)
            replaced[_PACKAGE_RELS] = _without_parts(rels, package.dropped, attribute="Target")
    for info in infos:
        if info.filename in package.dropped:
            continue
        entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
        entry.compress_type = zipfile.ZIP_DEFLATED
        if info.filename in replaced:
            output.writestr(entry, replaced[info.filename])
            continue
        if info.filename.startswith("word/media/") and not info.is_dir():
            removed += _copy_media(archive, info, output, entry)
            continue
        with archive.open(info) as member, output.open(entry, "w") as copy:
            shutil.copyfileobj(member, copy, COPY_CHUNK)
    return removed


def _docprops_lines(archive: zipfile.ZipFile, package: _Package, names: set[str]) -> list[str]:
    lines = []
    if package.core in names and (filled := _filled(_read_xml(archive, package.core))):
        lines.append(f"DOCX core properties: {', '.join(filled)}")
    if package.app in names and (filled := _filled(_read_xml(archive, package.app))):
        lines.append(f"DOCX app properties: {', '.join(filled)}")
    for part in sorted(package.dropped):
        if part.endswith("custom.xml"):
            custom = [p.get("name", "?") for p in _read_xml(archive, part)]
            lines.append(f"DOCX custom properties: {', '.join(custom) or '(none set)'}")
        else:
            lines.append(f"DOCX thumbnail {part}")
    return lines


def _copy_media(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, output: zipfile.ZipFile, entry: zipfile.ZipInfo
) -> list[str]:
    """Copy an embedded file, cleaning it first if it is a photo."""
    with archive.open(info) as member:
        head = member.read(HEAD_SIZE)
    try:
        detected = detect(head, name=info.filename)
    except AttachmentRefused:
        detected = None
    with archive.open(info) as member, output.open(entry, "w") as copy:
        if detected is None or detected.kind is not Kind.PHOTO:
            shutil.copyfileobj(member, copy, COPY_CHUNK)
            return []
        with spool() as original, spool() as cleaned:
            shutil.copyfileobj(member, original, COPY_CHUNK)
            original.seek(0)
            lines = scrub_image(
                original,
                cleaned,
                detected.media_type,
                what=f"{info.filename} in this DOCX document",
                keep_orientation=True,
            )
            cleaned.seek(0)
            shutil.copyfileobj(cleaned, copy, COPY_CHUNK)
    return [f"{info.filename}: {line}" for line in lines]
