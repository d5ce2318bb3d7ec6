"""Previews of photos: small, upright, JPEG, and carrying nothing but pixels."""

import struct
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from tisa.attachments.kinds import AttachmentRefused
from tisa.attachments.previews import thumbnail


def _with_exif(path: Path, size: tuple[int, int], *, orientation: int = 1) -> Path:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (38.0, 54.0, 0.0)
    Image.new("RGB", size, (30, 90, 200)).save(path, format="JPEG", exif=exif)
    return path


def test_thumbnail_is_a_small_jpeg_without_metadata(tmp_path: Path) -> None:
    src = _with_exif(tmp_path / "photo.jpg", (1000, 500))
    dst = tmp_path / "preview.jpg"

    size = thumbnail(src, dst)

    assert size == (320, 160)
    with Image.open(dst) as preview:
        assert preview.format == "JPEG"
        assert preview.size == size
        assert len(preview.getexif()) == 0
        assert "exif" not in preview.info
        assert "icc_profile" not in preview.info
    assert b"Canon" not in dst.read_bytes()


def test_thumbnail_is_upright(tmp_path: Path) -> None:
    src = _with_exif(tmp_path / "photo.jpg", (400, 200), orientation=6)

    assert thumbnail(src, tmp_path / "p.jpg", max_side=100) == (50, 100)


def test_small_photo_is_not_enlarged(tmp_path: Path) -> None:
    src = tmp_path / "tiny.png"
    Image.new("RGB", (40, 30), (1, 2, 3)).save(src)

    assert thumbnail(src, tmp_path / "p.jpg") == (40, 30)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGBA", "PNG"),
        ("P", "PNG"),
        ("LA", "PNG"),
        ("I;16", "PNG"),
        ("I;16", "TIFF"),
        ("F", "TIFF"),
        ("CMYK", "TIFF"),
        ("1", "TIFF"),
        ("L", "JPEG"),
        ("CMYK", "JPEG"),
    ],
)
def test_thumbnail_of_any_mode(tmp_path: Path, mode: str, fmt: str) -> None:
    src = tmp_path / f"image.{fmt.lower()}"
    image = Image.linear_gradient("L").resize((64, 48)).convert(mode)
    image.save(src, format=fmt)
    dst = tmp_path / "p.jpg"

    assert thumbnail(src, dst, max_side=32) == (32, 24)
    with Image.open(dst) as preview:
        assert preview.mode in ("RGB", "L")


def test_non_image_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "report.pdf"
    src.write_bytes(b"%PDF-1.7\n%%EOF\n")
    dst = tmp_path / "p.jpg"

    with pytest.raises(AttachmentRefused, match="not a readable"):
        thumbnail(src, dst)
    assert not dst.exists()


def test_gif_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "anim.gif"
    Image.new("P", (8, 8)).save(src, format="GIF")

    with pytest.raises(AttachmentRefused):
        thumbnail(src, tmp_path / "p.jpg")


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    src = tmp_path / "bomb.png"
    src.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(bytes(20001 * 8)))
        + chunk(b"IEND", b"")
    )
    dst = tmp_path / "p.jpg"

    with pytest.raises(AttachmentRefused, match="decompression bomb"):
        thumbnail(src, dst)
    assert not dst.exists()


def test_max_side_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_side"):
        thumbnail(tmp_path / "any.jpg", tmp_path / "p.jpg", max_side=0)
