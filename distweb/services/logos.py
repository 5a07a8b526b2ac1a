"""Logo templates (Logo 模板): SVG marks drawn for distweb (``templates/logos/*.svg``) that
take the brand's short name and colour. The chosen one is drawn to the brand's logo file
(a 512 px PNG), so everything that shows the logo — the pages, the installed app's icons,
the statement and the poster — shows it; a new name or colour draws it again.

The SVG is ours and the name in it is escaped (the templates autoescape), and the renderer
is told to fetch nothing (cairosvg without ``unsafe``), so drawing one reads no file and no
URL."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l

from distweb.models import Brand
from distweb.services.errors import NotFound
from distweb.services.tx import transaction

SIZE = 512
# key -> name shown in the gallery (the file is templates/logos/<key>.svg)
TEMPLATES: dict[str, object] = {
    "seal": _l("印章"),
    "circle": _l("圆标"),
    "ring": _l("环标"),
    "quad": _l("四字印"),
    "leaf": _l("叶形"),
    "diamond": _l("菱形"),
    "shield": _l("盾形"),
    "bubble": _l("对话"),
    "split": _l("双色"),
}


def _rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def _luminance(color: str) -> float:
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ink_for(color: str) -> str:
    """White or near-black, whichever reads better on the colour (WCAG contrast)."""
    light = _luminance(color)
    return "#ffffff" if (1.05 / (light + 0.05)) >= ((light + 0.05) / 0.0725) else "#1a1a1a"


def deep_for(color: str) -> str:
    """The colour a shade darker, and darker still until white on it (and it on white)
    passes 4.5:1."""
    r, g, b = (int(v * 0.72) for v in _rgb(color))
    for _ in range(20):
        hex_ = f"#{r:02x}{g:02x}{b:02x}"
        if 1.05 / (_luminance(hex_) + 0.05) >= 4.5:
            return hex_
        r, g, b = int(r * 0.85), int(g * 0.85), int(b * 0.85)
    return f"#{r:02x}{g:02x}{b:02x}"


def _initial(short_name: str) -> str:
    text = short_name.strip()
    return text[:1].upper() if text else "D"


def svg(key: str, short_name: str, color: str) -> str:
    """The template drawn for this name and colour."""
    if key not in TEMPLATES:
        raise NotFound("unknown_logo_template", _l("没有这个 Logo 模板。"))
    chars = [ch for ch in short_name.strip() if not ch.isspace()][:4]
    # The template alone (no request context processors): it is drawn outside requests too.
    template = current_app.jinja_env.get_template(f"logos/{key}.svg")
    return template.render(name=short_name, initial=_initial(short_name), chars=chars,
                           color=color.lower(), ink=ink_for(color), deep=deep_for(color))


def png(key: str, short_name: str, color: str, size: int = SIZE) -> bytes:
    import cairosvg

    return cairosvg.svg2png(bytestring=svg(key, short_name, color).encode(), output_width=size,
                            output_height=size, unsafe=False)


def draw(brand_id: int, key: str, short_name: str, color: str, uploads_dir: str) -> str:
    """Draw the template to a new logo file; returns its path under the uploads folder."""
    directory = Path(uploads_dir) / "brand"
    directory.mkdir(parents=True, exist_ok=True)
    name = f"brand/logo-{brand_id}-{key}-{secrets.token_hex(6)}.png"
    (Path(uploads_dir) / name).write_bytes(png(key, short_name, color))
    return name


def use_template(brand: Brand, key: str, uploads_dir: str) -> Brand:
    """Make the template the brand's logo (replacing an uploaded one)."""
    if key not in TEMPLATES:
        raise NotFound("unknown_logo_template", _l("没有这个 Logo 模板。"))
    new_file = draw(brand.id, key, brand.short_name, brand.theme_color, uploads_dir)
    old_file = brand.logo_file
    try:
        with transaction():
            brand.logo_file, brand.logo_template = new_file, key
    except BaseException:
        (Path(uploads_dir) / new_file).unlink(missing_ok=True)
        raise
    if old_file:
        (Path(uploads_dir) / old_file).unlink(missing_ok=True)
    return brand


def remove(brand: Brand, uploads_dir: str) -> Brand:
    """Back to the built-in mark: the uploaded or drawn logo goes."""
    old_file = brand.logo_file
    with transaction():
        brand.logo_file, brand.logo_template = None, None
    if old_file:
        (Path(uploads_dir) / old_file).unlink(missing_ok=True)
    return brand
