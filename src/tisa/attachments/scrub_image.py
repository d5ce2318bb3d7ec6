"""Cleaning a photo: re-encoded from its pixels alone (see `tisa.attachments.scrub`)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Final

from PIL import ExifTags, Image, ImageCms, ImageOps, TiffTags, UnidentifiedImageError

from tisa.attachments.kinds import (
    AttachmentRefused,
    MediaType,
)

MAX_PIXELS: Final = 100_000_000
"""The most pixels one image (or one page of a TIFF) may declare; more is a decompression bomb."""

MAX_TOTAL_PIXELS: Final = 4 * MAX_PIXELS
"""The most pixels all pages of a multi-page TIFF may declare together."""

MAX_FRAMES: Final = 1000
"""The most pages a multi-page TIFF may have."""

JPEG_QUALITY: Final = 95


_PILLOW_FORMATS: Final = {MediaType.JPEG: "JPEG", MediaType.PNG: "PNG", MediaType.TIFF: "TIFF"}
_LABELS: Final = {MediaType.JPEG: "JPEG", MediaType.PNG: "PNG", MediaType.TIFF: "TIFF"}


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


def scrub_image(
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
