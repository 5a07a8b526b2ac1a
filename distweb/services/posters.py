"""Share posters (海报): one 750×1334 PNG per promoter × material, the size a WeChat chat
shows well, with the promoter's QR code. Cached on disk under a fingerprint of everything
drawn on it, so a change to the material, its product, the promoter or the brand gives a
new file and an unchanged poster is one ``stat`` away."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from functools import lru_cache
from pathlib import Path

import segno
from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from PIL import Image, ImageDraw, ImageFont, ImageOps

from distweb.models import Brand, Material, Promoter
from distweb.money import format_fen
from distweb.services import materials

WIDTH, HEIGHT = 750, 1334
PICTURE_HEIGHT = 750
QR_SIZE = 232
LAYOUT_VERSION = 1  # bump when the drawing below changes: every cached poster is redrawn
FALLBACK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


@lru_cache(maxsize=1)
def cjk_font_file() -> tuple[str, int]:
    """A font with Chinese glyphs, found by fontconfig (the same fonts the PDFs use)."""
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}|%{index}", "sans-serif:lang=zh-cn"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
        path, _sep, index = out.partition("|")
        if path and Path(path).exists():
            return path, int(index or 0)
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    return FALLBACK_FONT, 0


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont:
    path, index = cjk_font_file()
    return ImageFont.truetype(path, size, index=index)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = (hex_colour or "#1677ff").lstrip("#")
    try:
        return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    except ValueError:
        return (22, 119, 255)


def _inputs(promoter: Promoter, material: Material, brand: Brand, link: str) -> dict:
    product = material.product
    live_product = product is not None and product.active
    image = material.images[0].file_key if material.images else None
    return {
        "layout": LAYOUT_VERSION, "material": material.id, "version": material.version, "image": image,
        "title": material.title,
        "product": [product.name, product.price_fen] if live_product else None,
        "promoter": [promoter.id, promoter.name], "avatar": promoter.user.avatar_file, "link": link,
        "brand": [brand.name, brand.theme_color], "logo": brand.logo_file, "locale": str(get_locale()),
    }


def fingerprint(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:20]


def poster_dir() -> Path:
    return Path(current_app.config["DISTWEB_UPLOADS"]) / "posters"


def poster_file(promoter: Promoter, material: Material, brand: Brand) -> Path:
    """The poster's PNG on disk, drawn now if this exact poster was not drawn before."""
    link = materials.share_link(promoter, material)
    inputs = _inputs(promoter, material, brand, link)
    directory = poster_dir() / str(material.id)
    path = directory / f"{promoter.id}-{fingerprint(inputs)}.png"
    if path.exists():
        return path
    data = render(inputs, link)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{id(data)}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: a reader never sees half a poster
    for old in directory.glob(f"{promoter.id}-*.png"):
        if old != path:
            old.unlink(missing_ok=True)
    return path


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, max_lines: int) -> list[str]:
    """Break Chinese (no spaces) and Latin text by measured width; an ellipsis ends a cut."""
    lines, current = [], ""
    for char in text.replace("\n", " "):
        if draw.textlength(current + char, font=font) <= width:
            current += char
            continue
        lines.append(current)
        current = char.lstrip()
        if len(lines) == max_lines:
            break
    if len(lines) < max_lines and current:
        lines.append(current)
    elif len(lines) == max_lines and current:
        last = lines[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


def _picture(file_key: str | None) -> Image.Image | None:
    if not file_key:
        return None
    path = materials.media_dir() / file_key
    try:
        with Image.open(path) as source:
            source.draft("RGB", (WIDTH, PICTURE_HEIGHT))  # JPEG decodes at a reduced scale: much faster
            return ImageOps.fit(source.convert("RGB"), (WIDTH, PICTURE_HEIGHT), Image.Resampling.LANCZOS)
    except (OSError, ValueError):
        return None  # a missing or damaged file gives a poster without the picture, not an error


def _brand_mark(logo_file: str | None, height: int = 36) -> Image.Image | None:
    """The brand's logo (uploaded or drawn from a template), ``height`` pixels high."""
    if not logo_file:
        return None
    try:
        with Image.open(Path(current_app.config["DISTWEB_UPLOADS"]) / logo_file) as source:
            logo = source.convert("RGBA")
    except (OSError, ValueError):
        return None  # a missing logo file leaves the name alone, never breaks a poster
    logo.thumbnail((height * 4, height), Image.Resampling.LANCZOS)
    return logo


def _avatar(file_key: str | None) -> Image.Image | None:
    if not file_key:
        return None
    try:
        with Image.open(Path(current_app.config["DISTWEB_UPLOADS"]) / file_key) as source:
            return ImageOps.fit(source.convert("RGB"), (96, 96), Image.Resampling.LANCZOS)
    except (OSError, ValueError):
        return None


def _qr(link: str) -> Image.Image:
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=8, border=2)
    buffer.seek(0)
    with Image.open(buffer) as code:
        return code.convert("RGB").resize((QR_SIZE, QR_SIZE), Image.Resampling.NEAREST)


def render(inputs: dict, link: str) -> bytes:
    colour = _rgb(inputs["brand"][1])
    poster = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(poster)
    picture = _picture(inputs["image"])
    if picture is not None:
        poster.paste(picture, (0, 0))
    else:
        draw.rectangle((0, 0, WIDTH, PICTURE_HEIGHT), fill=colour)
        big = font(64)
        for i, line in enumerate(_wrap(draw, inputs["title"], big, WIDTH - 120, 4)):
            draw.text((60, 220 + i * 92), line, font=big, fill="white")

    y = PICTURE_HEIGHT + 40
    if inputs["product"]:
        name, price_fen = inputs["product"]
        for line in _wrap(draw, name, font(40), WIDTH - 80, 2):
            draw.text((40, y), line, font=font(40), fill=(34, 34, 34))
            y += 54
        draw.text((40, y + 6), format_fen(price_fen), font=font(60), fill=(230, 45, 45))
    else:
        for line in _wrap(draw, inputs["title"], font(40), WIDTH - 80, 3):
            draw.text((40, y), line, font=font(40), fill=(34, 34, 34))
            y += 54

    # The promoter: a round initial in the brand colour, the name, the QR code to the right.
    _promoter_id, name = inputs["promoter"]
    top = HEIGHT - 60 - QR_SIZE
    draw.line((40, top - 30, WIDTH - 40, top - 30), fill=(235, 235, 235), width=2)
    avatar = _avatar(inputs.get("avatar"))
    if avatar is not None:
        mask = Image.new("L", avatar.size, 0)
        ImageDraw.Draw(mask).ellipse((0, 0, avatar.width - 1, avatar.height - 1), fill=255)
        poster.paste(avatar, (40, top + 10), mask)
    else:  # no picture: the name's first character in the brand colour
        draw.ellipse((40, top + 10, 136, top + 106), fill=colour)
        draw.text((88, top + 58), (name or "?")[0], font=font(46), fill="white", anchor="mm")
    draw.text((156, top + 22), name[:12], font=font(34), fill=(34, 34, 34))
    draw.text((156, top + 70), _("为你推荐"), font=font(26), fill=(120, 120, 120))
    draw.text((40, top + 150), _("长按识别二维码"), font=font(28), fill=(34, 34, 34))
    brand_x = 40
    mark = _brand_mark(inputs.get("logo"))
    if mark is not None:  # the brand's logo before its name
        poster.paste(mark, (40, top + 190), mark)
        brand_x += mark.width + 12
    draw.text((brand_x, top + 194), inputs["brand"][0][:20], font=font(24), fill=(150, 150, 150))
    poster.paste(_qr(link), (WIDTH - 40 - QR_SIZE, top))

    out = io.BytesIO()
    poster.save(out, "PNG", compress_level=6)
    return out.getvalue()
