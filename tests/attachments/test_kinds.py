"""Telling an attachment's type from its content, and holding names and declarations to it."""

import gzip
import io
import json
import tarfile
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tisa.attachments.kinds import (
    HEAD_SIZE,
    AttachmentRefused,
    Detected,
    Kind,
    MediaType,
    check,
    detect,
)
from tisa.errors import InputInvalid


def _image(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _docx() -> bytes:
    return _zip(
        {
            "[Content_Types].xml": b"<Types/>",
            "_rels/.rels": b"<Relationships/>",
            "word/document.xml": b"<w:document/>",
        }
    )


def _tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"sensor readings"
        info = tarfile.TarInfo("readings.bin")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


ALLOWED = [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", MediaType.PDF, Kind.DOCUMENT),
    (_docx(), MediaType.DOCX, Kind.DOCUMENT),
    (b"Report of 3 May.\nNothing to add, sir.\n", MediaType.TEXT, Kind.DOCUMENT),
    ("Grüße aus Seoul — 안녕하세요\n".encode(), MediaType.TEXT, Kind.DOCUMENT),
    (_image("JPEG"), MediaType.JPEG, Kind.PHOTO),
    (_image("PNG"), MediaType.PNG, Kind.PHOTO),
    (_image("TIFF"), MediaType.TIFF, Kind.PHOTO),
    (b"lat,lon,time\n38.9,125.7,12:00\n39.0,125.8,12:05\n", MediaType.CSV, Kind.DATA),
    (b"a;b\n1;2\n", MediaType.CSV, Kind.DATA),
    (b'{"track": [1, 2, 3], "unit": "m"}', MediaType.JSON, Kind.DATA),
    (b"  [1, 2]\n", MediaType.JSON, Kind.DATA),
    (_zip({"readings/a.bin": b"\x00\x01" * 10}), MediaType.ZIP, Kind.DATA),
    (gzip.compress(b"readings", mtime=0), MediaType.GZIP, Kind.DATA),
    (_tar(), MediaType.TAR, Kind.DATA),
    (bytes(range(256)) * 4, MediaType.OCTET_STREAM, Kind.DATA),
    (b"MZ is how the note starts\n", MediaType.TEXT, Kind.DOCUMENT),
]


@pytest.mark.parametrize(("content", "media_type", "kind"), ALLOWED)
def test_detects_allowed_types_by_content(
    content: bytes, media_type: MediaType, kind: Kind
) -> None:
    detected = detect(content, name="no-extension-here")
    assert detected == Detected(kind, media_type, detected.extension)
    assert detected.extension.startswith(".")


def test_name_plays_no_part_in_detection() -> None:
    assert detect(_image("PNG"), name="report.pdf").media_type is MediaType.PNG


def test_large_json_is_recognised_from_its_prefix() -> None:
    body = json.dumps({"readings": [{"t": i, "v": [i, i * 2.5, "x"]} for i in range(20000)]})
    assert len(body) > 2 * HEAD_SIZE
    head = body.encode()[:HEAD_SIZE]
    assert detect(head, name="big.json").media_type is MediaType.JSON


def test_large_csv_is_recognised_from_its_prefix() -> None:
    body = "".join(f"{i},{i * 0.5},sensor-{i}\n" for i in range(20000)).encode()
    assert detect(body[:HEAD_SIZE], name="big.csv").media_type is MediaType.CSV


def test_prose_cut_short_is_text_not_json() -> None:
    body = ("[draft] " + "words and more words. " * 5000).encode()
    assert detect(body[:HEAD_SIZE], name="notes.txt").media_type is MediaType.TEXT


def test_utf8_cut_mid_character_at_the_prefix_end_is_still_text() -> None:
    body = ("안녕하세요 " * 20000).encode()
    head = body[: HEAD_SIZE + 1][:HEAD_SIZE]
    assert detect(head, name="k.txt").media_type is MediaType.TEXT


def test_text_with_nul_is_binary() -> None:
    assert detect(b"abc\x00def", name="x").media_type is MediaType.OCTET_STREAM


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x7fELF\x02\x01\x01" + bytes(60), "ELF executable"),
        (b"MZ\x90\x00" + bytes(56) + b"\x40\x00\x00\x00" + b"PE\x00\x00" + bytes(20), "Windows"),
        (b"MZ\x90\x00\x03\x00\x00\x00\xff\xff", "DOS executable"),
        (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", "Mach-O"),
        (b"#!/bin/sh\nrm -rf /\n", "script"),
        (_zip({"META-INF/MANIFEST.MF": b"Main-Class: X", "X.class": b"\xca\xfe"}), "Java"),
    ],
)
def test_executables_are_refused(content: bytes, words: str) -> None:
    with pytest.raises(AttachmentRefused, match="executables are not allowed") as caught:
        detect(content, name="tool.dat")
    assert words in caught.value.reason
    assert "tool.dat" in caught.value.reason


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"GIF89a\x01\x00\x01\x00", "GIF"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WebP"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "OLE"),
        (b"Rar!\x1a\x07\x01\x00", "RAR"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "7-Zip"),
        (_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"}), "Excel"),
        (
            _zip(
                {
                    "[Content_Types].xml": b"<T/>",
                    "word/document.xml": b"",
                    "word/vbaProject.bin": b"",
                }
            ),
            "macro",
        ),
    ],
)
def test_known_formats_that_are_not_allowed_are_refused(content: bytes, words: str) -> None:
    with pytest.raises(AttachmentRefused, match=words):
        detect(content, name="file")


def test_empty_file_is_refused() -> None:
    with pytest.raises(AttachmentRefused, match="empty"):
        detect(b"", name="nothing.txt")


def test_refusal_is_an_input_error() -> None:
    assert issubclass(AttachmentRefused, InputInvalid)


def test_inconsistent_detected_is_refused() -> None:
    with pytest.raises(AttachmentRefused):
        Detected(Kind.PHOTO, MediaType.PDF, ".pdf")


# --- check -----------------------------------------------------------------------------------

PDF = Detected.of(MediaType.PDF)
JPEG = Detected.of(MediaType.JPEG)
CSV = Detected.of(MediaType.CSV)
TEXT = Detected.of(MediaType.TEXT)
JSON = Detected.of(MediaType.JSON)
BINARY = Detected.of(MediaType.OCTET_STREAM)


def test_photo_named_jpg_that_is_a_pdf_is_refused_naming_both() -> None:
    detected = detect(b"%PDF-1.4\n", name="photo.jpg")
    with pytest.raises(AttachmentRefused) as caught:
        check(detected, None, "photo.jpg")
    assert "photo.jpg" in caught.value.reason
    assert "PDF" in caught.value.reason
    assert "JPEG" in caught.value.reason


def test_declared_type_contradicting_content_is_refused() -> None:
    with pytest.raises(AttachmentRefused, match=r"PDF by its content.*image/jpeg"):
        check(PDF, "image/jpeg", "scan")


@pytest.mark.parametrize(
    ("detected", "declared", "name"),
    [
        (PDF, "application/pdf", "a.pdf"),
        (PDF, None, "a.PDF"),
        (PDF, "application/octet-stream", "a.pdf"),
        (PDF, "", "a"),
        (JPEG, "image/jpg", "IMG_0001.JPEG"),
        (JPEG, "image/jpeg; charset=binary", "photo.bin"),
        (CSV, "text/plain; charset=utf-8", "grid.txt"),
        (TEXT, "text/csv", "one-column.csv"),
        (JSON, "text/plain", "track.json"),
        (BINARY, None, "capture.sigmf-data"),
        (BINARY, None, "Makefile"),
        (Detected.of(MediaType.GZIP), "application/x-gzip", "logs.tar.gz"),
    ],
)
def test_consistent_names_and_declarations_pass(
    detected: Detected, declared: str | None, name: str
) -> None:
    check(detected, declared, name)


@pytest.mark.parametrize(
    ("detected", "declared", "name", "words"),
    [
        (TEXT, "application/json", "a", "not|declared"),
        (TEXT, None, "notes.json", "name says JSON"),
        (BINARY, "text/plain", "x", "binary data"),
        (BINARY, None, "notes.txt", "binary data"),
        (JPEG, "image/png", "x", "JPEG image"),
        (Detected.of(MediaType.DOCX), None, "report.zip", "DOCX"),
        (TEXT, None, "run.bat", "not allowed"),
        (TEXT, None, "invoice.pdf.exe", "not allowed"),
        (TEXT, None, "page.html.", "not allowed"),
        (BINARY, "application/x-msdownload", "x", "executables are not allowed"),
        (BINARY, "video/mp4", "x", "not allowed"),
    ],
)
def test_contradictions_and_forbidden_names_are_refused(
    detected: Detected, declared: str | None, name: str, words: str
) -> None:
    with pytest.raises(AttachmentRefused, match=words):
        check(detected, declared, name)


def test_names_are_shown_without_control_or_bidi_characters() -> None:
    with pytest.raises(AttachmentRefused) as caught:
        check(PDF, None, "photo\u202egpj\n.jpg")
    assert "\u202e" not in caught.value.reason
    assert "\n" not in caught.value.reason


# --- properties ------------------------------------------------------------------------------

MAGICS = [
    b"",
    b"%PDF-",
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"II*\x00",
    b"MM\x00*",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x1f\x8b\x08",
    b"MZ",
    b"BM",
    b"RIFF",
    b"{",
    b"[",
    b'{"a": "',
    b"a,b\n",
    b"\xef\xbb\xbf",
]


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(MAGICS), body=st.binary(max_size=2048), name=st.text(max_size=40))
def test_detect_accepts_with_a_kind_or_refuses(prefix: bytes, body: bytes, name: str) -> None:
    try:
        detected = detect(prefix + body, name=name)
    except AttachmentRefused:
        return
    assert detected.kind in set(Kind)
    assert detected.media_type in set(MediaType)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=3000), pad=st.integers(min_value=0, max_value=3))
def test_detect_on_text_and_long_prefixes(text: str, pad: int) -> None:
    data = (text * (1 + HEAD_SIZE // max(len(text), 1)) if pad else text).encode()
    try:
        detected = detect(data[:HEAD_SIZE], name="t")
    except AttachmentRefused:
        return
    assert detected.kind in set(Kind)


@settings(max_examples=100, deadline=None)
@given(value=st.recursive(st.none() | st.integers() | st.text(), st.lists, max_leaves=30))
def test_json_arrays_are_json(value: object) -> None:
    data = json.dumps([value]).encode()
    assert detect(data, name="v.json").media_type is MediaType.JSON
