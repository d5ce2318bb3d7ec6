"""What an attachment is, judged by its content, and whether it may travel.

`detect` looks at the first bytes of a file (and, for ZIP packages, at the member names in the
local headers it can see) and never at its name. It refuses executables and the formats that are
known but not allowed (GIF, RAR, legacy Office, XLSX...) outright, so a `Detected` always names an
allowed type. `check` then holds the file's name and the media type its sender declared against
what the content is.

Allowed:

    document  application/pdf, DOCX, text/plain
    photo     image/jpeg, image/png, image/tiff
    data      text/csv, application/json, application/zip, application/gzip,
              application/x-tar, application/octet-stream (any other binary data)
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from tisa.errors import InputInvalid

HEAD_SIZE: Final = 64 * 1024
"""How much of a file `detect` wants: the first 64 KiB, or the whole file if it is smaller."""


class AttachmentRefused(InputInvalid):
    """An attachment that may not travel: forbidden, contradictory, malformed or unsafe."""


class Kind(StrEnum):
    """What an attachment is to an analyst."""

    DOCUMENT = "document"
    PHOTO = "photo"
    DATA = "data"


class MediaType(StrEnum):
    """The media types an attachment may have."""

    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    TEXT = "text/plain"
    JPEG = "image/jpeg"
    PNG = "image/png"
    TIFF = "image/tiff"
    CSV = "text/csv"
    JSON = "application/json"
    ZIP = "application/zip"
    GZIP = "application/gzip"
    TAR = "application/x-tar"
    OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class _TypeInfo:
    kind: Kind
    extension: str
    label: str


_TYPES: Final[dict[MediaType, _TypeInfo]] = {
    MediaType.PDF: _TypeInfo(Kind.DOCUMENT, ".pdf", "a PDF"),
    MediaType.DOCX: _TypeInfo(Kind.DOCUMENT, ".docx", "a DOCX document"),
    MediaType.TEXT: _TypeInfo(Kind.DOCUMENT, ".txt", "plain text"),
    MediaType.JPEG: _TypeInfo(Kind.PHOTO, ".jpg", "a JPEG image"),
    MediaType.PNG: _TypeInfo(Kind.PHOTO, ".png", "a PNG image"),
    MediaType.TIFF: _TypeInfo(Kind.PHOTO, ".tif", "a TIFF image"),
    MediaType.CSV: _TypeInfo(Kind.DATA, ".csv", "CSV"),
    MediaType.JSON: _TypeInfo(Kind.DATA, ".json", "JSON"),
    MediaType.ZIP: _TypeInfo(Kind.DATA, ".zip", "a ZIP archive"),
    MediaType.GZIP: _TypeInfo(Kind.DATA, ".gz", "a gzip archive"),
    MediaType.TAR: _TypeInfo(Kind.DATA, ".tar", "a tar archive"),
    MediaType.OCTET_STREAM: _TypeInfo(Kind.DATA, ".bin", "binary data"),
}


@dataclass(frozen=True)
class Detected:
    """An allowed type, found from a file's content.

    `extension` is the canonical one for the type, with its dot (".jpg", ".docx").
    Build it with `Detected.of(media_type)`; the constructor refuses an inconsistent triple.
    """

    kind: Kind
    media_type: MediaType
    extension: str

    def __post_init__(self) -> None:
        info = _TYPES.get(self.media_type)
        if info is None or (info.kind, info.extension) != (self.kind, self.extension):
            raise AttachmentRefused(
                f"{self.media_type} is not a {self.kind} with extension {self.extension}"
            )

    @classmethod
    def of(cls, media_type: MediaType) -> Detected:
        """The `Detected` for an allowed media type.

        Raises:
            AttachmentRefused: never for a `MediaType` member.
        """
        info = _TYPES[media_type]
        return cls(info.kind, media_type, info.extension)

    @property
    def label(self) -> str:
        """How a person names the type: "a PDF", "a JPEG image", "binary data"."""
        return _TYPES[self.media_type].label


# --- content ---------------------------------------------------------------------------------

_EXECUTABLE: Final = "executables are not allowed"
_PHOTOS_ONLY: Final = "photos must be JPEG, PNG or TIFF"
_DOCUMENTS_ONLY: Final = "documents must be PDF, DOCX or plain text"
_ARCHIVES_ONLY: Final = "archives must be ZIP, gzip or tar"

# (magic at offset 0, what it is, why it may not travel)
_FORBIDDEN_MAGIC: Final[tuple[tuple[bytes, str, str], ...]] = (
    (b"\x7fELF", "an ELF executable", _EXECUTABLE),
    (b"\xfe\xed\xfa\xce", "a Mach-O executable", _EXECUTABLE),
    (b"\xfe\xed\xfa\xcf", "a Mach-O executable", _EXECUTABLE),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable", _EXECUTABLE),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable", _EXECUTABLE),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O universal binary", _EXECUTABLE),
    (b"\x00asm", "a WebAssembly module", _EXECUTABLE),
    (b"dex\n", "an Android DEX file", _EXECUTABLE),
    (b"#!", "a script", _EXECUTABLE),
    (b"MSCF", "a Windows cabinet", _EXECUTABLE),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a legacy or encrypted Office (OLE) file",
        _DOCUMENTS_ONLY,
    ),
    (b"{\\rtf", "an RTF document", _DOCUMENTS_ONLY),
    (b"GIF87a", "a GIF image", _PHOTOS_ONLY),
    (b"GIF89a", "a GIF image", _PHOTOS_ONLY),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image", _PHOTOS_ONLY),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 image", _PHOTOS_ONLY),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", _ARCHIVES_ONLY),
    (b"Rar!\x1a\x07", "a RAR archive", _ARCHIVES_ONLY),
    (b"\xfd7zXZ\x00", "an xz archive", _ARCHIVES_ONLY),
    (b"\x28\xb5\x2f\xfd", "a Zstandard archive", _ARCHIVES_ONLY),
)
_BZIP2: Final = re.compile(rb"BZh[1-9]1AY&SY")
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"avif"})
_BMP_HEADER_SIZES: Final = frozenset({12, 40, 52, 56, 64, 108, 124})

_ALLOWED_MAGIC: Final[tuple[tuple[bytes, MediaType], ...]] = (
    (b"%PDF-", MediaType.PDF),
    (b"\xff\xd8\xff", MediaType.JPEG),
    (b"\x89PNG\r\n\x1a\n", MediaType.PNG),
    (b"II*\x00", MediaType.TIFF),
    (b"MM\x00*", MediaType.TIFF),
    (b"II+\x00", MediaType.TIFF),
    (b"MM\x00+", MediaType.TIFF),
    (b"\x1f\x8b\x08", MediaType.GZIP),
    (b"PK\x03\x04", MediaType.ZIP),
    (b"PK\x05\x06", MediaType.ZIP),
    (b"PK\x07\x08", MediaType.ZIP),
)

# Text may hold tabs, line and form feeds; other C0 controls (NUL, ESC...) make it binary.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# In a name shown to a person: any control character, and the bidi overrides that can make
# "photo\u202egpj.exe" look like "photoexe.jpg".
_UNPRINTABLE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_JSON_TOKEN: Final = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*(?:"|\Z)|[\[\]{},]')
_JSON_MAX_DEPTH: Final = 512
_JSON_VALUE_STARTS: Final = frozenset('"{[]}-0123456789tfn')
_CSV_DELIMITERS: Final = (",", "\t", ";", "|")


def _shown(name: str) -> str:
    """The name as it may appear in a reason: no control or bidi characters, not too long."""
    clean = _UNPRINTABLE.sub("?", name)
    return clean if len(clean) <= 120 else clean[:117] + "..."


def _refuse(name: str, what: str, why: str) -> AttachmentRefused:
    return AttachmentRefused(f"{_shown(name)} is {what} by its content; {why}")


def _windows_executable(head: bytes) -> str | None:
    if not head.startswith(b"MZ"):
        return None
    if len(head) >= 0x40:
        (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
        if head[pe_offset : pe_offset + 4] == b"PE\x00\x00":
            return "a Windows executable"
    if _decoded_text(head) is None:
        return "a DOS executable"
    return None


def _forbidden(head: bytes) -> tuple[str, str] | None:
    """What the content is, and why it may not travel; None if it is not a forbidden format."""
    for magic, what, why in _FORBIDDEN_MAGIC:
        if head.startswith(magic):
            return what, why
    windows = _windows_executable(head)
    if windows is not None:
        return windows, _EXECUTABLE
    if _BZIP2.match(head):
        return "a bzip2 archive", _ARCHIVES_ONLY
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP image", _PHOTOS_ONLY
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "a HEIF/AVIF image", _PHOTOS_ONLY
    if head.startswith(b"II*\x00") and head[8:10] == b"CR":
        return "a Canon raw image", _PHOTOS_ONLY
    if head.startswith(b"BM") and len(head) >= 18:
        reserved, header_size = struct.unpack_from("<I4xI", head, 6)
        if reserved == 0 and header_size in _BMP_HEADER_SIZES:
            return "a BMP image", _PHOTOS_ONLY
    if head[0x8001:0x8006] == b"CD001":
        return "a disk image", _ARCHIVES_ONLY
    return None


def _zip_member_names(head: bytes) -> list[str]:
    """Member names from the local file headers within `head` (the central directory is at
    the end of the file, out of sight)."""
    names: list[str] = []
    position = head.find(b"PK\x03\x04")
    while position >= 0 and position + 30 <= len(head) and len(names) < 4096:
        (length,) = struct.unpack_from("<H", head, position + 26)
        names.append(head[position + 30 : position + 30 + length].decode("utf-8", "replace"))
        position = head.find(b"PK\x03\x04", position + 4)
    return names


def _zip_type(head: bytes) -> MediaType | tuple[str, str]:
    """DOCX or plain ZIP; or what forbidden package the ZIP is, and why."""
    mimetype = head[30:120]
    if mimetype.startswith(b"mimetypeapplication/vnd.oasis.opendocument"):
        return "an OpenDocument file", _DOCUMENTS_ONLY
    if mimetype.startswith(b"mimetypeapplication/epub+zip"):
        return "an EPUB book", _DOCUMENTS_ONLY
    names = _zip_member_names(head)
    packaged = "[Content_Types].xml" in names or "_rels/.rels" in names
    if any(n.startswith("word/") and n.endswith("vbaProject.bin") for n in names):
        return "a macro-enabled Word document", "macros are not allowed"
    if "word/document.xml" in names or (packaged and any(n.startswith("word/") for n in names)):
        return MediaType.DOCX
    if packaged and any(n.startswith("xl/") for n in names):
        return "an Excel workbook", _DOCUMENTS_ONLY
    if packaged and any(n.startswith("ppt/") for n in names):
        return "a PowerPoint presentation", _DOCUMENTS_ONLY
    if "AndroidManifest.xml" in names or "classes.dex" in names:
        return "an Android package", _EXECUTABLE
    if "META-INF/MANIFEST.MF" in names or any(n.endswith(".class") for n in names):
        return "a Java archive", _EXECUTABLE
    return MediaType.ZIP


def _decoded_text(head: bytes, *, complete: bool = False) -> str | None:
    """`head` as UTF-8 text, or None if it is not text (invalid UTF-8, control characters)."""
    data = head.removeprefix(codecs.BOM_UTF8)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        text = decoder.decode(data, final=complete)
    except UnicodeDecodeError:
        return None
    if _CONTROL.search(text):
        return None
    return text


def _is_json(text: str, *, complete: bool) -> bool:
    """Whether `text` is a JSON object or array (a prefix of one when not `complete`)."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return False
    if not complete:
        candidate = _json_prefix_closed(stripped)
        if candidate is None:
            return False
        stripped = candidate
    try:
        json.loads(stripped)
    except (ValueError, RecursionError):
        return False
    return True


def _json_prefix_closed(text: str) -> str | None:
    """`text` cut back to its last point between values, with its open brackets closed; None
    if `text` cannot be the start of one long JSON object or array."""
    stack = ""
    cut: tuple[int, str] | None = None
    for token in _JSON_TOKEN.finditer(text):
        symbol = token.group()
        if symbol.startswith('"'):
            if token.end() == len(text):
                break
            continue
        if symbol in "{[":
            stack += "}" if symbol == "{" else "]"
            if len(stack) > _JSON_MAX_DEPTH:
                return None
            cut = (token.end(), stack)
        elif symbol in "}]":
            if not stack or stack[-1] != symbol:
                return None
            stack = stack[:-1]
            if not stack:  # the whole value ended, yet the file goes on
                return text[: token.end()] if not text[token.end() :].strip() else None
            cut = (token.end(), stack)
        elif stack:  # a comma
            cut = (token.start(), stack)
    if cut is None:
        return None
    position, open_brackets = cut
    rest = text[position:].removeprefix(",").lstrip()
    if rest and rest[0] not in _JSON_VALUE_STARTS:
        return None
    return text[:position] + open_brackets[::-1]


def _is_csv(text: str, *, complete: bool) -> bool:
    """Whether `text` is delimited rows of one width (two fields or more), two rows or more."""
    lines = text.splitlines()
    if not complete:
        lines = lines[:-1]  # the last line may be cut short
    lines = [line for line in lines if line.strip()]
    if len(lines) < 2:
        return False
    for delimiter in _CSV_DELIMITERS:
        if delimiter not in lines[0]:
            continue
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=delimiter, strict=True)}
        except csv.Error:
            continue
        if len(widths) == 1 and widths.pop() >= 2:
            return True
    return False


def _text_type(head: bytes, *, complete: bool) -> MediaType | None:
    text = _decoded_text(head, complete=complete)
    if text is None:
        return None
    if _is_json(text, complete=complete):
        return MediaType.JSON
    if _is_csv(text, complete=complete):
        return MediaType.CSV
    return MediaType.TEXT


def _content_type(head: bytes, *, complete: bool) -> MediaType | tuple[str, str]:
    for magic, media_type in _ALLOWED_MAGIC:
        if head.startswith(magic):
            return _zip_type(head) if media_type is MediaType.ZIP else media_type
    if head[257:263] == b"ustar\x00" or head[257:265] == b"ustar  \x00":
        return MediaType.TAR
    return _text_type(head, complete=complete) or MediaType.OCTET_STREAM


def detect(head: bytes, *, name: str) -> Detected:
    """What the file that starts with `head` is, from its content alone.

    `head` is the first `HEAD_SIZE` bytes of the file, or the whole file if it is smaller; only
    those are looked at. `name` appears in reasons and plays no part in the verdict.

    Raises:
        AttachmentRefused: the file is empty, an executable (ELF, Windows PE, Mach-O, a script,
            a Java or Android package...), or a known format that is not allowed (GIF, HEIF,
            RAR, 7-Zip, legacy Office, XLSX, macro-enabled DOCX...).
    """
    if not head:
        raise AttachmentRefused(f"{_shown(name)} is empty")
    complete = len(head) < HEAD_SIZE
    head = head[:HEAD_SIZE]
    forbidden = _forbidden(head)
    if forbidden is not None:
        raise _refuse(name, *forbidden)
    found = _content_type(head, complete=complete)
    if isinstance(found, tuple):
        raise _refuse(name, *found)
    return Detected.of(found)


# --- names and declared types ----------------------------------------------------------------

_EXTENSIONS: Final[dict[str, MediaType]] = {
    "pdf": MediaType.PDF,
    "docx": MediaType.DOCX,
    "txt": MediaType.TEXT,
    "text": MediaType.TEXT,
    "log": MediaType.TEXT,
    "md": MediaType.TEXT,
    "jsonl": MediaType.TEXT,
    "ndjson": MediaType.TEXT,
    "jpg": MediaType.JPEG,
    "jpeg": MediaType.JPEG,
    "jpe": MediaType.JPEG,
    "jfif": MediaType.JPEG,
    "png": MediaType.PNG,
    "tif": MediaType.TIFF,
    "tiff": MediaType.TIFF,
    "csv": MediaType.CSV,
    "tsv": MediaType.CSV,
    "json": MediaType.JSON,
    "geojson": MediaType.JSON,
    "zip": MediaType.ZIP,
    "gz": MediaType.GZIP,
    "tgz": MediaType.GZIP,
    "tar": MediaType.TAR,
    "bin": MediaType.OCTET_STREAM,
    "dat": MediaType.OCTET_STREAM,
    "raw": MediaType.OCTET_STREAM,
}

# Names a receiving desktop would run, or open in something that runs what it holds.
_DANGEROUS_EXTENSIONS: Final = frozenset(
    {
        *("exe", "dll", "scr", "com", "pif", "cpl", "sys", "drv", "ocx", "msi", "msp", "msc"),
        *("bat", "cmd", "ps1", "psm1", "vbs", "vbe", "js", "jse", "mjs", "wsf", "wsh", "hta"),
        *("jar", "class", "apk", "app", "dmg", "pkg", "deb", "rpm", "appimage", "elf", "so"),
        *("dylib", "wasm", "sh", "bash", "zsh", "ksh", "csh", "py", "pyc", "pyw", "pl", "rb"),
        *("php", "lnk", "reg", "inf", "scf", "url", "iso", "img", "vhd", "vhdx", "chm"),
        *("docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppam", "sldm", "rtf"),
        *("html", "htm", "xhtml", "svg", "mht", "mhtml"),
    }
)

_ALIASES: Final[dict[str, MediaType]] = {
    "image/jpg": MediaType.JPEG,
    "image/pjpeg": MediaType.JPEG,
    "image/x-png": MediaType.PNG,
    "application/x-pdf": MediaType.PDF,
    "application/csv": MediaType.CSV,
    "text/x-csv": MediaType.CSV,
    "text/comma-separated-values": MediaType.CSV,
    "text/tab-separated-values": MediaType.CSV,
    "text/json": MediaType.JSON,
    "application/x-zip-compressed": MediaType.ZIP,
    "application/x-zip": MediaType.ZIP,
    "application/x-gzip": MediaType.GZIP,
    "application/x-gtar": MediaType.TAR,
    "application/tar": MediaType.TAR,
    "binary/octet-stream": MediaType.OCTET_STREAM,
}

_KNOWN_TYPES: Final[dict[str, MediaType]] = {**{t.value: t for t in MediaType}, **_ALIASES}

_EXECUTABLE_TYPES: Final = frozenset(
    {
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/vnd.microsoft.portable-executable",
        "application/x-dosexec",
        "application/x-executable",
        "application/x-elf",
        "application/x-mach-binary",
        "application/x-sharedlib",
        "application/x-sh",
        "application/x-shellscript",
        "application/java-archive",
        "application/x-java-archive",
        "application/vnd.android.package-archive",
        "application/javascript",
        "text/javascript",
        "application/x-python-code",
        "text/x-python",
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
    }
)

_TEXT_FAMILY: Final = frozenset({MediaType.TEXT, MediaType.CSV, MediaType.JSON})


def _compatible(claimed: MediaType, found: MediaType) -> bool:
    """Whether a claim of `claimed` is borne out by content that is `found`."""
    if claimed in (found, MediaType.OCTET_STREAM):
        return True  # octet-stream claims nothing
    if claimed is MediaType.TEXT:
        return found in _TEXT_FAMILY  # CSV and JSON are text too
    # A one-column or ragged CSV reads as plain text; it is still fair to call it CSV.
    return claimed is MediaType.CSV and found is MediaType.TEXT


def _extension(name: str) -> str | None:
    base = re.split(r"[/\\]", name)[-1].rstrip(". ")  # Windows drops trailing dots and spaces
    stem, dot, extension = base.rpartition(".")
    return extension.lower() if dot and stem else None


def _declared(declared_media_type: str, shown: str) -> MediaType | None:
    essence = declared_media_type.split(";", 1)[0].strip().lower()
    if not essence:
        return None
    if essence in _EXECUTABLE_TYPES:
        raise AttachmentRefused(f"{shown} was declared as {essence}; {_EXECUTABLE}")
    known = _KNOWN_TYPES.get(essence)
    if known is not None:
        return known
    allowed = ", ".join(_TYPES)
    raise AttachmentRefused(f"{shown} was declared as {essence}, which is not allowed: {allowed}")


def check(detected: Detected, declared_media_type: str | None, name: str) -> None:
    """Refuse an attachment whose name or declared type contradicts its content.

    A declared type of application/octet-stream, an empty one, or None claims nothing; nor does
    an extension tisa does not know. Plain text, CSV and JSON are all text: a ".txt" name or a
    text/plain declaration fits any of them, and a one-column CSV may read as plain text.

    Raises:
        AttachmentRefused: the name's extension names another type than the content ("x.jpg is
            a PDF by its content..."), or an executable or active content (".exe", ".js",
            ".html", ".docm"); the declared type is another allowed type than the content, an
            executable type, or not an allowed type at all.
    """
    shown = _shown(name)
    extension = _extension(name)
    if extension in _DANGEROUS_EXTENSIONS:
        raise AttachmentRefused(
            f"{shown}: files named .{extension} are not allowed "
            "(executables and active content are not allowed)"
        )
    by_name = _EXTENSIONS.get(extension) if extension is not None else None
    if by_name is not None and not _compatible(by_name, detected.media_type):
        raise AttachmentRefused(
            f"{shown} is {detected.label} by its content, but its name says {_TYPES[by_name].label}"
        )
    if declared_media_type is None:
        return
    declared = _declared(declared_media_type, shown)
    if declared is not None and not _compatible(declared, detected.media_type):
        raise AttachmentRefused(
            f"{shown} is {detected.label} by its content, "
            f"but was declared as {declared} ({_TYPES[declared].label})"
        )
