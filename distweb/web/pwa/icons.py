"""App icons in the brand's colour, with its logo when it has one."""

from __future__ import annotations

from pathlib import Path

from flask import current_app
from PIL import Image, ImageDraw

from distweb.models import Brand


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i : i + 2], 16) for i in (0, 2, 4))


def _logo_template(brand_id: int) -> str | None:
    """Whether the logo was drawn from a template (read once per brand look: icons are kept)."""
    from sqlalchemy import select

    from distweb.extensions import db

    return db.session.scalar(select(Brand.logo_template).where(Brand.id == brand_id))


def brand_icon(brand: Brand | None, size: int, maskable: bool, uploads: Path, version: str) -> Path:
    """Render (once per brand look) and return the icon file."""
    out_dir = uploads / "icons"
    out = out_dir / f"icon-{version}-{'m' if maskable else 'a'}-{size}.png"
    if out.exists():
        return out
    static_default = Path(current_app.static_folder) / "icons" / "mark.png"
    color = _hex_to_rgb(brand.theme_color if brand else "#d9363e")
    canvas = Image.new("RGBA", (size, size), (*color, 255))
    if not maskable:
        # Rounded square for "any": the launcher shows it as is.
        mask = Image.new("L", (size, size), 0)
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 5, fill=255)
        canvas.putalpha(mask)
    logo_path = uploads / brand.logo_file if brand and brand.logo_file else static_default
    drawn = bool(brand and brand.logo_file and _logo_template(brand.id))
    if drawn and not maskable:
        canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))  # a drawn logo is an icon by design
    with Image.open(logo_path) as logo:
        logo = logo.convert("RGBA")
        # Maskable icons keep their content inside the 80 % safe zone.
        inner = int(size * (0.72 if maskable else 1.0)) if drawn else int(size * (0.56 if maskable else 0.7))
        logo = logo.resize((inner, inner), Image.LANCZOS) if drawn else logo
        logo.thumbnail((inner, inner))
        canvas.alpha_composite(logo, ((size - logo.width) // 2, (size - logo.height) // 2))
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    canvas.save(tmp, "PNG", optimize=True)
    tmp.replace(out)
    return out
