"""The brand's name, logo and colour, set by a manager."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageChops

from distweb.models import Brand
from distweb.services import images
from distweb.services.errors import ServiceError
from distweb.services.tx import transaction

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_LOGO_BYTES = 2 * 1024 * 1024
MAX_LOGO_SIDE = 4096
LOGO_SIZE = 512


def _drawn_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The box around what the logo draws: inside a transparent margin, or else inside a
    margin of the corner's colour (a logo on a white card)."""
    alpha = image.getchannel("A")
    if alpha.getextrema()[0] < 255:
        return alpha.getbbox()
    corner = Image.new("RGBA", image.size, image.getpixel((0, 0)))
    difference = ImageChops.difference(image, corner).convert("L").point(lambda v: 255 if v > 24 else 0)
    return difference.getbbox()


def decode_logo(data: bytes) -> Image.Image:
    """Check an uploaded logo by its content (not its name) and return it as RGBA, cropped
    to what is drawn (transparent margins go) and kept in its own proportions, so it shows
    at its real size where the pages give it a height; re-encoding later drops EXIF and
    anything hidden in the original."""
    image = images.decode(data, field="logo", max_bytes=MAX_LOGO_BYTES, max_side=MAX_LOGO_SIDE, fit=LOGO_SIZE).image
    image = image.convert("RGBA")
    drawn = _drawn_box(image)
    if drawn and drawn != (0, 0, image.width, image.height):
        image = image.crop(drawn)
    image.thumbnail((LOGO_SIZE, LOGO_SIZE))
    return image


def update_brand(
    brand: Brand,
    name: str,
    short_name: str,
    theme_color: str,
    logo: Image.Image | None = None,
    uploads_dir: str | None = None,
) -> Brand:
    """Change the brand's look in one step: every field is checked before anything is saved."""
    name, short_name, theme_color = name.strip(), short_name.strip(), theme_color.strip()
    if not name or len(name) > 80:
        raise ServiceError("invalid_name", _l("品牌名称需为 1–80 个字符。"), "name")
    if not short_name or len(short_name) > 24:
        raise ServiceError("invalid_short_name", _l("简称需为 1–24 个字符。"), "short_name")
    if not COLOR_RE.match(theme_color):
        raise ServiceError("invalid_color", _l("主题色需为 #RRGGBB 格式。"), "theme_color")
    new_file = old_file = None
    template = brand.logo_template
    if logo is not None:
        directory = Path(uploads_dir) / "brand"
        directory.mkdir(parents=True, exist_ok=True)
        new_file = f"brand/logo-{brand.id}-{secrets.token_hex(6)}.png"
        logo.save(Path(uploads_dir) / new_file, "PNG", optimize=True)
        old_file = brand.logo_file
        template = None  # an upload replaces a drawn logo
    elif template and (short_name != brand.short_name or theme_color.lower() != brand.theme_color.lower()):
        from distweb.services import logos

        if template in logos.TEMPLATES:  # a drawn logo follows the new name and colour
            new_file = logos.draw(brand.id, template, short_name, theme_color, uploads_dir)
            old_file = brand.logo_file
    try:
        with transaction():
            brand.name, brand.short_name, brand.theme_color = name, short_name, theme_color.lower()
            brand.logo_template = template
            if new_file:
                brand.logo_file = new_file
    except BaseException:
        if new_file:
            (Path(uploads_dir) / new_file).unlink(missing_ok=True)
        raise
    if old_file:
        (Path(uploads_dir) / old_file).unlink(missing_ok=True)
    return brand
