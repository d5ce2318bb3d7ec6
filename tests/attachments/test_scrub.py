"""Scrubbing attachments: what betrays sources and methods is really gone, the rest is kept."""

import gzip
import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from defusedxml.ElementTree import fromstring as parse_xml
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageOps, ImageStat
from PIL.PngImagePlugin import PngImageFile, PngInfo
from PIL.TiffImagePlugin import ImageFileDirectory_v2, TiffImageFile
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject

from tisa.attachments import scrub_docx
from tisa.attachments.kinds import AttachmentRefused, Detected, MediaType, detect
from tisa.attachments.scrub import ScrubReport, scrub

SECRET = "Agent Smith"


# --- builders --------------------------------------------------------------------------------


def _picture(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """Left half red, right half blue, a green band at the top: orientation shows."""
    width, height = size
    image = Image.new("RGB", size, (220, 20, 20))
    image.paste((20, 20, 220), (width // 2, 0, width, height))
    image.paste((20, 200, 20), (0, 0, width, height // 8))
    return image


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "EOS R5"
    exif[ExifTags.Base.Artist] = SECRET
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (38.0, 54.0, 0.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (125.0, 42.0, 0.0)
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.BodySerialNumber] = "SN-0042"
    sub[ExifTags.Base.DateTimeOriginal] = "2024:05:03 04:00:00"
    return exif


def _jpeg(path: Path, *, orientation: int = 1, image: Image.Image | None = None) -> Path:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    (image or _picture()).save(
        path,
        format="JPEG",
        quality=95,
        exif=_exif(orientation),
        comment=SECRET.encode(),
        xmp=f"<x:xmpmeta xmlns:x='adobe:ns:meta/'>{SECRET}</x:xmpmeta>".encode(),
        icc_profile=icc,
    )
    return path


def _scrub(src: Path, tmp_path: Path) -> tuple[Path, ScrubReport]:
    detected = detect(src.read_bytes()[: 64 * 1024], name=src.name)
    dst = tmp_path / f"clean-{src.name}"
    return dst, scrub(src, dst, detected)


def _difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return max(ImageStat.Stat(diff).mean)


def _png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG declaring width x height 8-bit grey pixels, in a few kilobytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 64, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


# --- photos ----------------------------------------------------------------------------------


def test_jpeg_loses_gps_camera_xmp_comment_and_profile(tmp_path: Path) -> None:
    src = _jpeg(tmp_path / "photo.jpg")
    assert SECRET.encode() in src.read_bytes()

    dst, report = _scrub(src, tmp_path)

    assert "EXIF GPS position 38.9N 125.7E" in report.removed
    assert "EXIF camera make/model" in report.removed
    assert "EXIF serial numbers and lens" in report.removed
    assert "EXIF artist, owner and copyright" in report.removed
    assert "EXIF dates and times" in report.removed
    assert "XMP packet" in report.removed
    assert "JPEG comment" in report.removed
    assert any(line.startswith("ICC colour profile") for line in report.removed)
    with Image.open(dst) as clean, Image.open(src) as original:
        assert clean.format == "JPEG"
        assert len(clean.getexif()) == 0
        assert not clean.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        for key in ("exif", "xmp", "comment", "icc_profile", "photoshop"):
            assert key not in clean.info
        assert clean.size == original.size
        assert _difference(clean, original) < 3
    assert SECRET.encode() not in dst.read_bytes()
    assert b"Canon" not in dst.read_bytes()


def test_rotated_photo_is_transposed_before_exif_goes(tmp_path: Path) -> None:
    src = _jpeg(tmp_path / "rotated.jpg", orientation=6)

    dst, report = _scrub(src, tmp_path)

    assert "EXIF orientation (applied to the pixels)" in report.removed
    with Image.open(dst) as clean, Image.open(src) as original:
        upright = ImageOps.exif_transpose(original)
        assert clean.size == (64, 96) == upright.size
        assert ExifTags.Base.Orientation not in clean.getexif()
        assert _difference(clean, upright) < 3


def test_png_text_chunks_and_exif_are_dropped_pixels_kept_exactly(tmp_path: Path) -> None:
    image = _picture().convert("RGBA")
    image.putpixel((0, 0), (1, 2, 3, 4))
    text = PngInfo()
    text.add_text("Author", SECRET)
    text.add_itxt("Comment", "collected at the northern site")
    src = tmp_path / "chart.png"
    image.save(src, pnginfo=text, exif=_exif())

    dst, report = _scrub(src, tmp_path)

    assert "PNG text chunks: Author, Comment" in report.removed
    assert "EXIF GPS position 38.9N 125.7E" in report.removed
    with Image.open(dst) as clean:
        assert isinstance(clean, PngImageFile)
        assert clean.text == {}
        assert len(clean.getexif()) == 0
        assert clean.mode == "RGBA"
        assert ImageChops.difference(clean, image).getbbox() is None
    assert SECRET.encode() not in dst.read_bytes()


def test_tiff_keeps_pages_and_pixels_and_loses_its_tags(tmp_path: Path) -> None:
    tags = ImageFileDirectory_v2()
    tags[ExifTags.Base.Artist] = SECRET
    tags[ExifTags.Base.Make] = "Nikon"
    tags[ExifTags.Base.Software] = "SiteScan 2.1"
    tags[ExifTags.Base.ImageDescription] = "north gate"
    first, second = _picture(), Image.new("L", (30, 20), 77)
    src = tmp_path / "scan.tif"
    first.save(src, tiffinfo=tags, save_all=True, append_images=[second])

    dst, report = _scrub(src, tmp_path)

    assert "TIFF camera make/model" in report.removed
    assert "TIFF artist, owner and copyright" in report.removed
    assert "TIFF software" in report.removed
    assert "TIFF description and comments" in report.removed
    with Image.open(dst) as clean:
        assert isinstance(clean, TiffImageFile)
        assert clean.n_frames == 2
        for tag in (ExifTags.Base.Artist, ExifTags.Base.Make, ExifTags.Base.Software, 270):
            assert tag not in clean.tag_v2
        assert ImageChops.difference(clean.convert("RGB"), first).getbbox() is None
        clean.seek(1)
        assert clean.size == (30, 20)
        assert ImageChops.difference(clean, second).getbbox() is None
    assert SECRET.encode() not in dst.read_bytes()


def test_png_decompression_bomb_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "bomb.png"
    src.write_bytes(_png_bomb())
    assert src.stat().st_size < 64 * 1024
    dst = tmp_path / "out.png"

    with pytest.raises(AttachmentRefused, match="decompression bomb"):
        scrub(src, dst, Detected.of(MediaType.PNG))
    assert not dst.exists()


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    whole = _jpeg(tmp_path / "whole.jpg", image=_picture((400, 300))).read_bytes()
    src = tmp_path / "cut.jpg"
    src.write_bytes(whole[: len(whole) * 2 // 3])
    dst = tmp_path / "out.jpg"

    with pytest.raises(AttachmentRefused, match="not a readable JPEG"):
        scrub(src, dst, Detected.of(MediaType.JPEG))
    assert not dst.exists()


def test_garbage_after_jpeg_magic_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "junk.jpg"
    src.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)

    with pytest.raises(AttachmentRefused, match="JPEG"):
        scrub(src, tmp_path / "out.jpg", Detected.of(MediaType.JPEG))


def test_animated_png_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "anim.png"
    frames = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(3)]
    frames[0].save(src, save_all=True, append_images=frames[1:])

    with pytest.raises(AttachmentRefused, match="animated"):
        scrub(src, tmp_path / "out.png", Detected.of(MediaType.PNG))


def test_detected_must_match_the_content(tmp_path: Path) -> None:
    src = _jpeg(tmp_path / "photo.jpg")
    dst = tmp_path / "out.txt"

    with pytest.raises(AttachmentRefused, match="JPEG image by its content"):
        scrub(src, dst, Detected.of(MediaType.OCTET_STREAM))
    assert not dst.exists()


# --- PDF -------------------------------------------------------------------------------------


def _pdf(path: Path, *, password: str | None = None) -> Path:
    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(width=200, height=200)
    writer.add_metadata(
        {"/Author": SECRET, "/Producer": "SecretTool 1.0", "/CreationDate": "D:20240503040000Z"}
    )
    writer.xmp_metadata = (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + SECRET.encode() + b" XMP</x:xmpmeta>"
        b'<?xpacket end="w"?>'
    )
    writer.pages[0][NameObject("/PieceInfo")] = DictionaryObject(
        {NameObject("/Illustrator"): NameObject("/Private")}
    )
    if password is not None:
        writer.encrypt(user_password=password, algorithm="RC4-128")
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def test_pdf_loses_info_and_xmp_and_keeps_its_pages(tmp_path: Path) -> None:
    src = _pdf(tmp_path / "report.pdf")
    assert SECRET.encode() in src.read_bytes()

    dst, report = _scrub(src, tmp_path)

    metadata = next(line for line in report.removed if line.startswith("PDF metadata: "))
    assert set(metadata.removeprefix("PDF metadata: ").split(", ")) == {
        "Author",
        "Producer",
        "CreationDate",
    }
    assert "XMP packet" in report.removed
    assert "application private data (PieceInfo) of 1 page(s)" in report.removed
    reader = PdfReader(dst)
    assert not reader.metadata
    assert reader.xmp_metadata is None
    assert "/Metadata" not in reader.root_object
    assert "/PieceInfo" not in reader.pages[0]
    assert len(reader.pages) == 3
    raw = dst.read_bytes()
    assert SECRET.encode() not in raw
    assert b"SecretTool" not in raw


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    src = _pdf(tmp_path / "locked.pdf", password="s3cret")
    dst = tmp_path / "out.pdf"

    with pytest.raises(AttachmentRefused, match="encrypted"):
        scrub(src, dst, Detected.of(MediaType.PDF))
    assert not dst.exists()


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n" + bytes(range(256)) * 16,
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
        b"%PDF-",
    ],
    ids=["garbage", "truncated", "header-only"],
)
def test_malformed_pdf_is_refused(tmp_path: Path, content: bytes) -> None:
    src = tmp_path / "bad.pdf"
    src.write_bytes(content)
    dst = tmp_path / "out.pdf"

    with pytest.raises(AttachmentRefused, match="PDF is not readable"):
        scrub(src, dst, Detected.of(MediaType.PDF))
    assert not dst.exists()


def test_pdf_cut_in_half_is_refused(tmp_path: Path) -> None:
    whole = _pdf(tmp_path / "whole.pdf").read_bytes()
    src = tmp_path / "half.pdf"
    src.write_bytes(whole[: len(whole) // 2])

    with pytest.raises(AttachmentRefused, match="PDF is not readable"):
        scrub(src, tmp_path / "out.pdf", Detected.of(MediaType.PDF))


# --- DOCX ------------------------------------------------------------------------------------

_CT = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Default Extension="jpeg" ContentType="image/jpeg"/>\
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-\
officedocument.wordprocessingml.document.main+xml"/>\
<Override PartName="/docProps/core.xml" \
ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>\
<Override PartName="/docProps/app.xml" \
ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>\
<Override PartName="/docProps/custom.xml" \
ContentType="application/vnd.openxmlformats-officedocument.custom-properties+xml"/>\
</Types>"""

_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_P = "http://schemas.openxmlformats.org/package/2006/relationships"
_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_P}">\
<Relationship Id="rId1" Type="{_R}/officeDocument" Target="word/document.xml"/>\
<Relationship Id="rId2" Type="{_P}/metadata/core-properties" Target="docProps/core.xml"/>\
<Relationship Id="rId3" Type="{_R}/extended-properties" Target="docProps/app.xml"/>\
<Relationship Id="rId4" Type="{_R}/custom-properties" Target="docProps/custom.xml"/>\
<Relationship Id="rId5" Type="{_P}/metadata/thumbnail" Target="docProps/thumbnail.jpeg"/>\
</Relationships>"""

_CORE = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties \
xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" \
xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\
<dc:creator>{SECRET}</dc:creator><cp:lastModifiedBy>J. Doe</cp:lastModifiedBy>\
<cp:revision>7</cp:revision>\
<dcterms:created xsi:type="dcterms:W3CDTF">2024-05-03T04:00:00Z</dcterms:created>\
</cp:coreProperties>"""

_APP = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">\
<Template>Normal.dotm</Template><Company>Northern Collection Unit</Company>\
</Properties>"""

_CUSTOM = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" \
xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">\
<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Source">\
<vt:lpwstr>HUMINT-42</vt:lpwstr></property></Properties>"""

_DOCUMENT = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">\
<w:body><w:p><w:r><w:t>The bridge at the ford is down.</w:t></w:r></w:p></w:body></w:document>"""


def _docx(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    photo = io.BytesIO()
    _picture((32, 16)).save(photo, format="JPEG", exif=_exif(orientation=6))
    members = {
        "[Content_Types].xml": _CT.encode(),
        "_rels/.rels": _RELS.encode(),
        "word/document.xml": _DOCUMENT,
        "docProps/core.xml": _CORE.encode(),
        "docProps/app.xml": _APP.encode(),
        "docProps/custom.xml": _CUSTOM.encode(),
        "docProps/thumbnail.jpeg": photo.getvalue(),
        "word/media/image1.jpeg": photo.getvalue(),
        **(extra or {}),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _assert_coherent(path: Path) -> None:
    """The package opens: every XML part parses, every override and relationship resolves."""
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
        for name in names:
            if name.endswith((".xml", ".rels")):
                parse_xml(archive.read(name))
        types = parse_xml(archive.read("[Content_Types].xml"))
        for entry in types:
            if entry.tag.endswith("Override"):
                assert entry.get("PartName", "").lstrip("/") in names
        rels = parse_xml(archive.read("_rels/.rels"))
        for rel in rels:
            assert rel.get("Target", "").lstrip("/") in names
        assert any(rel.get("Target") == "word/document.xml" for rel in rels)


def test_docx_loses_its_properties_and_stays_coherent(tmp_path: Path) -> None:
    src = _docx(tmp_path / "report.docx")

    dst, report = _scrub(src, tmp_path)

    assert "DOCX core properties: creator, lastModifiedBy, revision, created" in report.removed
    assert "DOCX app properties: Template, Company" in report.removed
    assert "DOCX custom properties: Source" in report.removed
    assert "DOCX thumbnail docProps/thumbnail.jpeg" in report.removed
    assert "word/media/image1.jpeg: EXIF GPS position 38.9N 125.7E" in report.removed
    _assert_coherent(dst)
    assert detect(dst.read_bytes(), name="clean.docx") == Detected.of(MediaType.DOCX)
    with zipfile.ZipFile(dst) as archive:
        names = set(archive.namelist())
        assert "docProps/custom.xml" not in names
        assert "docProps/thumbnail.jpeg" not in names
        assert archive.read("word/document.xml") == _DOCUMENT
        core = parse_xml(archive.read("docProps/core.xml"))
        assert len(core) == 0
        assert len(parse_xml(archive.read("docProps/app.xml"))) == 0
        for name in names:
            data = archive.read(name)
            for secret in (SECRET, "J. Doe", "Northern Collection Unit", "HUMINT-42"):
                assert secret.encode() not in data, (secret, name)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        with Image.open(io.BytesIO(archive.read("word/media/image1.jpeg"))) as embedded:
            exif = embedded.getexif()
            assert not exif.get_ifd(ExifTags.IFD.GPSInfo)
            assert dict(exif) == {ExifTags.Base.Orientation: 6}  # the layout relies on it
            assert embedded.size == (32, 16)


def test_docx_zip_bomb_is_refused(tmp_path: Path) -> None:
    src = _docx(tmp_path / "bomb.docx", extra={"word/padding.xml": bytes(30 * 1024 * 1024)})
    assert src.stat().st_size < 1024 * 1024
    dst = tmp_path / "out.docx"

    with pytest.raises(AttachmentRefused, match="zip bomb"):
        scrub(src, dst, Detected.of(MediaType.DOCX))
    assert not dst.exists()


def test_docx_unpacking_past_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scrub_docx, "MAX_DOCX_SIZE", 4096)
    src = _docx(tmp_path / "big.docx", extra={"word/styles.xml": bytes(range(256)) * 32})

    with pytest.raises(AttachmentRefused, match="would unpack to"):
        scrub(src, tmp_path / "out.docx", Detected.of(MediaType.DOCX))


def test_docx_with_macros_is_refused(tmp_path: Path) -> None:
    src = _docx(tmp_path / "macro.docx", extra={"word/vbaData.xml": b"<x/>"})
    with zipfile.ZipFile(src, "a") as archive:
        archive.writestr("word/vbaProject.bin", b"\x00" * 64)

    with pytest.raises(AttachmentRefused, match="macro"):
        scrub(src, tmp_path / "out.docx", Detected.of(MediaType.DOCX))


def test_docx_with_malicious_xml_is_refused(tmp_path: Path) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
        b'<cp:coreProperties xmlns:cp="x">&lol2;</cp:coreProperties>'
    )
    src = _docx(tmp_path / "laughs.docx", extra={"docProps/core.xml": laughs})

    with pytest.raises(AttachmentRefused, match="unsafe or malformed XML"):
        scrub(src, tmp_path / "out.docx", Detected.of(MediaType.DOCX))


def test_docx_that_is_no_zip_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "broken.docx"
    src.write_bytes(_docx(tmp_path / "whole.docx").read_bytes()[:-200])

    with pytest.raises(AttachmentRefused, match="DOCX"):
        scrub(src, tmp_path / "out.docx", Detected.of(MediaType.DOCX))


# --- everything else -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"Nothing seen at the crossing.\n",
        b"t,lat,lon\n1,38.9,125.7\n2,38.9,125.8\n",
        b'{"readings": [1, 2, 3]}',
        bytes(range(256)) * 64,
        gzip.compress(b"x" * 1000),
    ],
    ids=["text", "csv", "json", "binary", "gzip"],
)
def test_other_data_is_copied_unchanged(tmp_path: Path, content: bytes) -> None:
    src = tmp_path / "data"
    src.write_bytes(content)

    dst, report = _scrub(src, tmp_path)

    assert dst.read_bytes() == content
    assert report.removed == ()
    assert report.lines == ("nothing to remove",)


def test_zip_data_is_copied_unless_a_bomb(tmp_path: Path) -> None:
    fine = tmp_path / "fine.zip"
    with zipfile.ZipFile(fine, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readings.bin", bytes(range(256)) * 100)
    dst, report = _scrub(fine, tmp_path)
    assert dst.read_bytes() == fine.read_bytes()
    assert report.lines == ("nothing to remove",)

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", bytes(20 * 1024 * 1024))
    with pytest.raises(AttachmentRefused, match="zip bomb"):
        scrub(bomb, tmp_path / "out.zip", Detected.of(MediaType.ZIP))
