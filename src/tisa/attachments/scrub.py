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

import io
import shutil
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import SpooledTemporaryFile
from typing import IO, Final
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml
from PIL import ExifTags, Image, ImageCms, ImageOps, TiffTags, UnidentifiedImageError
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject

from tisa.attachments.kinds import (
    HEAD_SIZE,
    AttachmentRefused,
    Detected,
    Kind,
    MediaType,
    detect,
)

MAX_PIXELS: Final = 100_000_000
"""The most pixels one image (or one page of a TIFF) may declare; more is a decompression bomb."""

MAX_TOTAL_PIXELS: Final = 4 * MAX_PIXELS
"""The most pixels all pages of a multi-page TIFF may declare together."""

MAX_FRAMES: Final = 1000
"""The most pages a multi-page TIFF may have."""

MAX_DOCX_SIZE: Final = 200 * 1024 * 1024
"""The most a DOCX package may unpack to, all members together."""

MAX_RATIO: Final = 100
"""The highest compression ratio an archive, or one member of it, may have (beyond the floor)."""

RATIO_FLOOR: Final = 1024 * 1024
"""Below this many unpacked bytes an archive, or a member, may compress as well as it likes."""

MAX_MEMBERS: Final = 10_000
"""The most members a DOCX or ZIP may have."""

JPEG_QUALITY: Final = 95

_COPY_CHUNK: Final = 1024 * 1024
_PILLOW_FORMATS: Final = {MediaType.JPEG: "JPEG", MediaType.PNG: "PNG", MediaType.TIFF: "TIFF"}
_LABELS: Final = {MediaType.JPEG: "JPEG", MediaType.PNG: "PNG", MediaType.TIFF: "TIFF"}


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
        return _scrub_image(source, target, detected.media_type, what="this photo")
    if detected.media_type is MediaType.PDF:
        return _scrub_pdf(source, target)
    if detected.media_type is MediaType.DOCX:
        return _scrub_docx(source, target)
    if detected.media_type is MediaType.ZIP:
        _check_zip(source, max_size=None, what="this ZIP archive")
        source.seek(0)
    shutil.copyfileobj(source, target, _COPY_CHUNK)
    return []


# --- images ----------------------------------------------------------------------------------


def _check_pixels(size: tuple[int, int], what: str) -> int:
    width, height = size
    if width <= 0 or height <= 0:
        raise AttachmentRefused(f"{what} has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise AttachmentRefused(
            f"{what} declares {width}x{height} pixels, more than {MAX_PIXELS:,}: "
            "refused as a possible decompression bomb"
        )
    return width * height


@contextmanager
def open_image(
    source: IO[bytes],
    *,
    what: str,
    media_types: Sequence[MediaType] = (MediaType.JPEG, MediaType.PNG, MediaType.TIFF),
) -> Iterator[Image.Image]:
    """Open a JPEG, PNG or TIFF image within tisa's limits; Pillow's failures become refusals.

    The size is checked before any pixel is decoded. Within the block Pillow's warnings are
    silenced (the limits here are the ones that count), and any error Pillow raises, from
    opening to saving, is refused with `what` named.

    Raises:
        AttachmentRefused: not one of `media_types` (or not an image at all), more than
            `MAX_PIXELS` pixels, or malformed (truncated, garbage), as found at any point.
    """
    formats = [_PILLOW_FORMATS[t] for t in media_types]
    names = " or ".join(_LABELS[t] for t in media_types)
    with warnings.catch_warnings():
        # Pillow warns of bombs above its own process-wide limit; ours is checked just below.
        warnings.simplefilter("ignore")
        try:
            with Image.open(source, formats=formats) as image:
                _check_pixels(image.size, what)
                yield image
        except AttachmentRefused:
            raise
        except Image.DecompressionBombError as exc:
            raise AttachmentRefused(f"{what} is a possible decompression bomb: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise AttachmentRefused(f"{what} is not a readable {names} image") from exc
        except Exception as exc:  # Pillow fails on bad input in many ways; all mean malformed
            raise AttachmentRefused(f"{what} is not a readable {names} image: {exc}") from exc


def _coordinate(value: object, ref: object, positive: str, negative: str) -> str:
    if not isinstance(value, tuple) or len(value) != 3:
        raise ValueError("not degrees, minutes and seconds")
    degrees, minutes, seconds = (float(part) for part in value)
    hemisphere = negative if str(ref).strip().upper() == negative else positive
    return f"{abs(degrees + minutes / 60 + seconds / 3600):.1f}{hemisphere}"


def _gps_line(gps: dict[int, object]) -> str:
    try:
        latitude = _coordinate(gps[2], gps.get(1, "N"), "N", "S")
        longitude = _coordinate(gps[4], gps.get(3, "E"), "E", "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return "EXIF GPS data"
    return f"EXIF GPS position {latitude} {longitude}"


_CAMERA_TAGS: Final = frozenset({0x010F, 0x0110})  # Make, Model
_DATE_TAGS: Final = frozenset({0x0132, 0x9003, 0x9004, 0x9010, 0x9011, 0x9012})
_PEOPLE_TAGS: Final = frozenset({0x013B, 0x8298, 0xA430})  # Artist, Copyright, CameraOwnerName
_SERIAL_TAGS: Final = frozenset({0xA431, 0xA433, 0xA434, 0xA435, 0xC62F})  # body, lens, ...
_TEXT_TAGS: Final = frozenset({0x010E, 0x9286, 0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F})
_SOFTWARE_TAGS: Final = frozenset({0x0131, 0x000B})
_ORIENTATION: Final = 0x0112
_POINTER_TAGS: Final = frozenset({0x8769, 0x8825, 0xA005, 0x014A})
_REPORTED_ELSEWHERE: Final = frozenset({700, 33723, 34377, 34675})  # XMP, IPTC, Photoshop, ICC
# What a TIFF needs to hold its pixels; every other tag is metadata and goes.
_STRUCTURAL_TIFF_TAGS: Final = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 282, 283, 284, 296, 317}
    | {320, 322, 323, 324, 325, 338, 339, 340, 341, 530, 531, 532, _ORIENTATION}
)


def _exif_lines(image: Image.Image, *, tiff: bool) -> list[str]:
    exif = image.getexif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    tags = {**dict(exif), **sub}
    lines = [_gps_line(gps)] if gps else []
    prefix = "TIFF" if tiff else "EXIF"
    groups = (
        (_CAMERA_TAGS, "camera make/model"),
        (_SERIAL_TAGS, "serial numbers and lens"),
        (_PEOPLE_TAGS, "artist, owner and copyright"),
        (_DATE_TAGS, "dates and times"),
        (_SOFTWARE_TAGS, "software"),
        (_TEXT_TAGS, "description and comments"),
    )
    for group, words in groups:
        if group & tags.keys():
            lines.append(f"{prefix} {words}")
    if ExifTags.Base.MakerNote in sub:
        lines.append("EXIF maker notes")
    if exif.get(_ORIENTATION, 1) not in (1, None):
        lines.append("EXIF orientation (applied to the pixels)")
    known = set().union(*(group for group, _ in groups), {ExifTags.Base.MakerNote, _ORIENTATION})
    skip = known | _POINTER_TAGS | _REPORTED_ELSEWHERE | (_STRUCTURAL_TIFF_TAGS if tiff else set())
    others = sorted(TiffTags.lookup(tag).name for tag in tags.keys() - skip)
    if others:
        shown = ", ".join(others[:8]) + (", ..." if len(others) > 8 else "")
        lines.append(f"{prefix} tags: {shown}")
    return lines


def _metadata_lines(image: Image.Image, media_type: MediaType) -> list[str]:
    info = image.info
    lines = _exif_lines(image, tiff=media_type is MediaType.TIFF)
    tiff_tags = getattr(image, "tag_v2", {})
    if "xmp" in info or "XML:com.adobe.xmp" in info or 700 in tiff_tags:
        lines.append("XMP packet")
    if "photoshop" in info or 33723 in tiff_tags or 34377 in tiff_tags:
        lines.append("IPTC/Photoshop data")
    if "comment" in info:
        lines.append("JPEG comment")
    app_segments = sorted(
        {marker for marker, data in getattr(image, "applist", []) if _unusual_segment(marker, data)}
    )
    if app_segments:
        lines.append(f"JPEG application data ({', '.join(app_segments)})")
    text = {key for key in getattr(image, "text", {}) if key != "XML:com.adobe.xmp"}
    if text:
        lines.append(f"PNG text chunks: {', '.join(sorted(text))}")
    return lines


def _unusual_segment(marker: str, data: bytes) -> bool:
    """A JPEG APPn segment other than JFIF, EXIF, XMP, ICC, MPF and Adobe colour (reported
    under their own names)."""
    usual = {
        "APP0": (b"JFIF", b"JFXX"),
        "APP1": (b"Exif", b"http://ns.adobe.com/xap/1.0/"),
        "APP2": (b"ICC_PROFILE", b"MPF"),
        "APP13": (b"Photoshop",),
        "APP14": (b"Adobe",),
    }
    return not data.startswith(usual.get(marker, (b"\xff\xff",)))


def _in_srgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, str | None]:
    """`image` with its colours converted from its ICC profile to sRGB, and what to report."""
    if not icc:
        return image, None
    if image.mode not in ("RGB", "RGBA", "CMYK"):
        return image, "ICC colour profile"
    output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
    try:
        converted = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            ImageCms.createProfile("sRGB"),
            outputMode=output_mode,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image, "ICC colour profile (colours could not be converted)"
    if converted is None:  # only with inPlace=True
        return image, "ICC colour profile"
    return converted, "ICC colour profile (colours converted to sRGB)"


def _pixels_only(frame: Image.Image, *, transpose: bool) -> tuple[Image.Image, list[str]]:
    """A new image holding `frame`'s pixels (and palette transparency) and nothing else."""
    icc = frame.info.get("icc_profile")
    oriented = ImageOps.exif_transpose(frame) if transpose else frame.copy()
    assert oriented is not None  # in_place=False always returns an image
    clean, note = _in_srgb(oriented, icc)
    transparency = frame.info.get("transparency")
    clean.info = {}
    if transparency is not None and clean.mode in ("P", "L", "RGB", "I", "I;16"):
        clean.info["transparency"] = transparency
    return clean, [note] if note else []


def _frames(image: Image.Image, what: str) -> Iterator[Image.Image]:
    count = getattr(image, "n_frames", 1)
    if count > MAX_FRAMES:
        raise AttachmentRefused(f"{what} has {count} pages, more than {MAX_FRAMES}")
    total = 0
    for index in range(count):
        image.seek(index)
        total += _check_pixels(image.size, what)
        if total > MAX_TOTAL_PIXELS:
            raise AttachmentRefused(
                f"{what} declares more than {MAX_TOTAL_PIXELS:,} pixels over its pages: "
                "refused as a possible decompression bomb"
            )
        yield image


def _scrub_image(
    source: IO[bytes],
    target: IO[bytes],
    media_type: MediaType,
    *,
    what: str,
    keep_orientation: bool = False,
) -> list[str]:
    """Re-encode an image from its pixels; see `scrub`. With `keep_orientation` the pixels
    stay as stored and only the EXIF orientation survives (for images inside documents, whose
    layout was made for them as they are)."""
    with open_image(source, what=what, media_types=(media_type,)) as image:
        removed = _metadata_lines(image, media_type)
        orientation = image.getexif().get(_ORIENTATION, 1)
        transpose = not keep_orientation
        params: dict[str, object] = {}
        if keep_orientation and orientation != 1:
            kept = Image.Exif()
            kept[_ORIENTATION] = orientation
            params["exif"] = kept
            removed = [line for line in removed if not line.startswith("EXIF orientation")]
        if media_type is MediaType.TIFF:
            pages = [_pixels_only(frame, transpose=transpose) for frame in _frames(image, what)]
            frames = [frame for frame, _ in pages]
            removed += sorted({note for _, notes in pages for note in notes})
            bilevel = all(frame.mode == "1" for frame in frames)
            frames[0].save(
                target,
                format="TIFF",
                compression="group4" if bilevel else "tiff_lzw",
                save_all=True,
                append_images=frames[1:],
                **params,
            )
            return removed
        count = getattr(image, "n_frames", 1)
        if media_type is MediaType.PNG and count > 1:
            raise AttachmentRefused(f"{what} is an animated PNG; photos must be still images")
        if count > 1:
            removed.append(f"{count - 1} further image(s) embedded in the JPEG (MPO)")
        clean, notes = _pixels_only(image, transpose=transpose)
        removed += notes
        if media_type is MediaType.JPEG:
            if clean.mode not in ("L", "RGB", "CMYK"):
                clean = clean.convert("RGB")
            clean.save(target, format="JPEG", quality=JPEG_QUALITY, **params)
        else:
            clean.save(target, format="PNG", **params)
    return removed


# --- PDF -------------------------------------------------------------------------------------


def _scrub_pdf(source: IO[bytes], target: IO[bytes]) -> list[str]:
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


# --- ZIP and DOCX ----------------------------------------------------------------------------


def _check_zip(source: IO[bytes], *, max_size: int | None, what: str) -> None:
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


def _scrub_docx(source: IO[bytes], target: IO[bytes]) -> list[str]:
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
            shutil.copyfileobj(member, copy, _COPY_CHUNK)
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
            shutil.copyfileobj(member, copy, _COPY_CHUNK)
            return []
        with _spool() as original, _spool() as cleaned:
            shutil.copyfileobj(member, original, _COPY_CHUNK)
            original.seek(0)
            lines = _scrub_image(
                original,
                cleaned,
                detected.media_type,
                what=f"{info.filename} in this DOCX document",
                keep_orientation=True,
            )
            cleaned.seek(0)
            shutil.copyfileobj(cleaned, copy, _COPY_CHUNK)
    return [f"{info.filename}: {line}" for line in lines]


def _spool() -> SpooledTemporaryFile[bytes]:
    return SpooledTemporaryFile(max_size=16 * 1024 * 1024, mode="w+b")
