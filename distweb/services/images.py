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


def decode(data: bytes, *, field: str, max_bytes: int, max_side: int, max_pixels: int | None = None,
           fit: int | None = None, cover: bool = False) -> DecodedImage:
    """The picture in ``data``, or a ServiceError on ``field`` saying what is wrong.

    The canvas is checked from the header (at most ``max_side`` pixels wide and high, and
    ``max_pixels`` in all) before a single pixel is decoded. ``fit`` says how big the caller
    will use it: no side longer than ``fit`` (or, with ``cover``, just filling a ``fit``×``fit``
    square, for a centre crop). The picture is shrunk to that before anything else copies it
    (so a PNG costs one decoded canvas, not three), and a JPEG is decoded straight at 1/2, 1/4
    or 1/8 of its size when that is still enough."""
    if not data:
        raise ServiceError("image_empty", _l("请选择一张图片。"), field)
    if len(data) > max_bytes:
        raise ServiceError("image_too_large", _l("图片不能超过 %(mb)s MB。", mb=max_bytes // (1024 * 1024)), field)
    if max_pixels is None or max_pixels >= max_side * max_side:
        too_big = ServiceError("image_pixels", _l("图片尺寸过大：宽和高都不能超过 %(side)s 像素。", side=max_side),
                               field)
    else:
        too_big = ServiceError("image_pixels", _l("图片尺寸过大：宽和高都不能超过 %(side)s 像素，总像素不能超过 "
                                                  "%(mp)s 百万。", side=max_side, mp=max_pixels // 1_000_000), field)
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as probe:
            width, height = probe.size
            if width > max_side or height > max_side or (max_pixels is not None and width * height > max_pixels):
                raise too_big
            fmt = probe.format
            has_alpha = probe.mode in ("RGBA", "LA", "PA") or "transparency" in probe.info
            target = _target_size(probe.size, fit, cover)
            if target is not None:
                probe.draft(None, target)  # JPEG only: decode at a smaller scale (both sides stay >= target)
            probe.load()
            # Only the shrunk picture is ever copied (convert, turn upright): one full-size
            # canvas at most, however the file was made.
            wanted = "RGBA" if has_alpha else "RGB"
            image = probe if probe.mode == wanted else probe.convert(wanted)
            if target is not None and image.size != target:
                image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
            upright = ImageOps.exif_transpose(image)  # a copy, with the EXIF orientation applied
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own limit (Image.MAX_IMAGE_PIXELS) is far above ours, so this is only
        # reached by a header claiming a gigantic canvas; the warning is an error under pytest.
        raise too_big from None
    except _DECODE_ERRORS:
        raise ServiceError("image_type", _l("只支持 PNG、JPEG 或 WebP 图片。"), field) from None
    return DecodedImage(upright, fmt)


def _target_size(size: tuple[int, int], fit: int | None, cover: bool) -> tuple[int, int] | None:
    """The size to shrink ``size`` to (aspect kept), or None when it is small enough already.
    Square boxes only, so an EXIF rotation applied afterwards cannot change the answer."""
    if fit is None:
        return None
    width, height = size
    scale = (max if cover else min)(fit / width, fit / height)
    if scale >= 1:
        return None
    return max(1, round(width * scale)), max(1, round(height * scale))


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
# Decided from the header: a 131 KB PNG claiming 6300×6300 used to cost a worker 400 MB.
MAX_AVATAR_SIDE = 4096


def read_avatar(data: bytes) -> Image.Image:
    """An uploaded avatar checked and cropped to a centred AVATAR_SIZE square (RGB)."""
    picture = decode(data, field="avatar", max_bytes=MAX_AVATAR_BYTES, max_side=MAX_AVATAR_SIDE,
                     fit=AVATAR_SIZE, cover=True)
    return ImageOps.fit(picture.image.convert("RGB"), (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)


def save_avatar(user, data: bytes, uploads_dir: Path) -> str:
    """Check an uploaded avatar, crop it to a centred square, store it re-encoded (no EXIF)
    and point the user at it; the previous picture is removed."""
    from distweb.services.tx import transaction

    square = read_avatar(data)
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
