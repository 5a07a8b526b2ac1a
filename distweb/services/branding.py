"""The brand's name, logo and colour, set by a manager."""

from __future__ import annotations

import io
import re
import secrets
from pathlib import Path

from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError

from distweb.models import Brand
from distweb.services.errors import ServiceError
from distweb.services.tx import transaction

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_LOGO_BYTES = 2 * 1024 * 1024
MAX_LOGO_PIXELS = 4096 * 4096
LOGO_SIZE = 512


def update_brand(brand: Brand, name: str, short_name: str, theme_color: str) -> Brand:
    name, short_name, theme_color = name.strip(), short_name.strip(), theme_color.strip()
    if not name or len(name) > 80:
        raise ServiceError("invalid_name", _l("品牌名称需为 1–80 个字符。"), "name")
    if not short_name or len(short_name) > 24:
        raise ServiceError("invalid_short_name", _l("简称需为 1–24 个字符。"), "short_name")
    if not COLOR_RE.match(theme_color):
        raise ServiceError("invalid_color", _l("主题色需为 #RRGGBB 格式。"), "theme_color")
    with transaction():
        brand.name, brand.short_name, brand.theme_color = name, short_name, theme_color.lower()
    return brand


def save_logo(brand: Brand, data: bytes, uploads_dir: str) -> Brand:
    """Accept a PNG/JPEG/WebP logo, re-encode it as a square PNG (which drops EXIF and any
    payload hidden in the original), and point the brand at it."""
    if len(data) > MAX_LOGO_BYTES:
        raise ServiceError("logo_too_large", _l("Logo 文件不能超过 2 MB。"), "logo")
    Image.MAX_IMAGE_PIXELS = MAX_LOGO_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ("PNG", "JPEG", "WEBP"):
                raise ServiceError("logo_type", _l("Logo 只支持 PNG、JPEG 或 WebP 图片。"), "logo")
            if probe.width * probe.height > MAX_LOGO_PIXELS:
                raise ServiceError("logo_pixels", _l("Logo 图片尺寸过大。"), "logo")
            probe.load()
            image = probe.convert("RGBA")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError):
        raise ServiceError("logo_type", _l("Logo 只支持 PNG、JPEG 或 WebP 图片。"), "logo") from None
    image.thumbnail((LOGO_SIZE, LOGO_SIZE))
    square = Image.new("RGBA", (LOGO_SIZE, LOGO_SIZE), (255, 255, 255, 0))
    square.paste(image, ((LOGO_SIZE - image.width) // 2, (LOGO_SIZE - image.height) // 2))
    directory = Path(uploads_dir) / "brand"
    directory.mkdir(parents=True, exist_ok=True)
    filename = f"logo-{brand.id}-{secrets.token_hex(6)}.png"
    square.save(directory / filename, "PNG", optimize=True)
    old = brand.logo_file
    with transaction():
        brand.logo_file = f"brand/{filename}"
    if old:
        (Path(uploads_dir) / old).unlink(missing_ok=True)
    return brand
