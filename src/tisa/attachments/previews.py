"""Small JPEG previews of photos, for lists and release review.

A preview is made from the scrubbed photo, never the original, within the same limits as
scrubbing, and carries no metadata of its own: pixels only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from PIL import Image, ImageOps

from tisa.attachments.scrub_image import open_image

PREVIEW_QUALITY: Final = 85

_HIGH_DEPTH: Final = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def _stretched(image: Image.Image) -> Image.Image:
    """A high-depth greyscale image stretched over 0-255, as an 8-bit one."""
    wide = image.convert("F") if image.mode != "F" else image
    low, high = wide.getextrema()
    assert isinstance(low, float)
    assert isinstance(high, float)
    scale = 255.0 / (high - low) if high > low else 0.0
    return wide.point(lambda value: (value - low) * scale).convert("L")


def _displayable(image: Image.Image) -> Image.Image:
    """`image` as RGB or L, transparency laid on white."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in _HIGH_DEPTH:
        return _stretched(image)
    if image.mode in ("RGBA", "LA", "PA", "P", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def thumbnail(src: Path, dst: Path, *, max_side: int = 320) -> tuple[int, int]:
    """Write a JPEG preview of the photo at `src` to `dst`, no side longer than `max_side`.

    `src` should be a photo already scrubbed; the preview is upright (EXIF orientation, if any
    is left, applied) and holds no metadata. Returns the preview's (width, height). On any
    failure `dst` is removed.

    Raises:
        AttachmentRefused: `src` is not a JPEG, PNG or TIFF image, is malformed, or declares
            more pixels than scrubbing allows.
        ValueError: `max_side` is less than 1.
        OSError: `src` cannot be read or `dst` cannot be written.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, not {max_side}")
    try:
        with (
            src.open("rb") as source,
            dst.open("wb") as target,
            open_image(source, what="this photo") as image,
        ):
            image.draft("RGB", (max_side, max_side))  # JPEG decodes at a fraction of its size
            upright = ImageOps.exif_transpose(image)
            assert upright is not None  # in_place=False always returns an image
            preview = _displayable(upright)
            preview.thumbnail((max_side, max_side))
            preview.info = {}
            preview.save(target, format="JPEG", quality=PREVIEW_QUALITY)
            size: tuple[int, int] = preview.size
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    return size
