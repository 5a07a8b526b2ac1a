"""Uploaded pictures: checked by content, bounded in bytes and pixels, re-encoded clean.

An upload is trusted for nothing: its name and Content-Type are ignored, Pillow must read it
as PNG, JPEG or WebP, the canvas size is checked from the header *before* any pixel is
decoded (a 50 KB PNG can claim 20000×20000), and what is stored is a fresh encoding of the
pixels, so EXIF (GPS position, camera serials) and anything appended to the file is gone.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from distweb.services.errors import ServiceError

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
_DECODE_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError,
                  EOFError)


@dataclass
class DecodedImage:
    image: Image.Image  # upright (EXIF orientation applied), RGB or RGBA
    format: str  # PNG | JPEG | WEBP, as sniffed from the content

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def decode(data: bytes, *, field: str, max_bytes: int, max_pixels: int) -> DecodedImage:
    """The picture in ``data``, or a ServiceError on ``field`` saying what is wrong."""
    if not data:
        raise ServiceError("image_empty", _l("请选择一张图片。"), field)
    if len(data) > max_bytes:
        raise ServiceError("image_too_large", _l("图片不能超过 %(mb)s MB。", mb=max_bytes // (1024 * 1024)), field)
    too_big = ServiceError("image_pixels", _l("图片尺寸过大（最多 %(mp)s 百万像素）。", mp=max_pixels // 1_000_000), field)
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as probe:
            if probe.width * probe.height > max_pixels:
                raise too_big
            probe.load()
            upright = ImageOps.exif_transpose(probe)
            has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
            image = upright.convert("RGBA" if has_alpha else "RGB")
            fmt = probe.format
    except Image.DecompressionBombError:
        raise too_big from None
    except _DECODE_ERRORS:
        raise ServiceError("image_type", _l("只支持 PNG、JPEG 或 WebP 图片。"), field) from None
    return DecodedImage(image, fmt)


def encode(image: Image.Image, fmt: str) -> bytes:
    """A fresh file of the pixels: no EXIF, no comments, no trailing bytes."""
    out = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=86, optimize=True, progressive=True)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=84, method=4)
    else:
        image.save(out, "PNG", optimize=True)
    return out.getvalue()


def fit_within(image: Image.Image, longest_side: int) -> Image.Image:
    if max(image.size) <= longest_side:
        return image
    copy = image.copy()
    copy.thumbnail((longest_side, longest_side), Image.Resampling.LANCZOS)
    return copy


def store(directory: Path, stem: str, data: bytes, ext: str) -> str:
    """Write ``data`` under ``directory`` with a random name; returns the file name. The
    write goes to a temporary name first, so a crash never leaves half a file in use."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{stem}-{secrets.token_hex(8)}.{ext}"
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(data)
    tmp.replace(directory / name)
    return name


AVATAR_SIZE = 256
MAX_AVATAR_BYTES = 5 * 1024 * 1024
MAX_AVATAR_PIXELS = 40_000_000


def save_avatar(user, data: bytes, uploads_dir: Path) -> str:
    """Check an uploaded avatar, crop it to a centred square, store it re-encoded (no EXIF)
    and point the user at it; the previous picture is removed."""
    from PIL import ImageOps

    from distweb.services.tx import transaction

    picture = decode(data, field="avatar", max_bytes=MAX_AVATAR_BYTES, max_pixels=MAX_AVATAR_PIXELS)
    square = ImageOps.fit(picture.image.convert("RGB"), (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
    directory = uploads_dir / "avatars"
    name = store(directory, f"u{user.id}", encode(square, "JPEG"), "jpg")
    old = user.avatar_file
    try:
        with transaction():
            user.avatar_file = f"avatars/{name}"
    except BaseException:
        (directory / name).unlink(missing_ok=True)
        raise
    if old:
        (uploads_dir / old).unlink(missing_ok=True)
    return user.avatar_file
