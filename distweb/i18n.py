"""Languages: zh-CN (catalogue folder zh_Hans_CN) by default, English second."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import format_datetime, get_locale

from distweb.money import format_fen

LANGUAGE_COOKIE = "lang"
# What a user may ask for -> the catalogue we serve.
ALIASES = {
    "zh": "zh_Hans_CN",
    "zh-cn": "zh_Hans_CN",
    "zh_cn": "zh_Hans_CN",
    "zh-hans": "zh_Hans_CN",
    "zh_hans_cn": "zh_Hans_CN",
    "en": "en",
    "en-us": "en",
    "en_us": "en",
}
LANGUAGE_NAMES = {"zh_Hans_CN": "中文", "en": "English"}


def supported_locale(code: str | None) -> str | None:
    if not code:
        return None
    return ALIASES.get(code.strip().lower())


def select_locale() -> str:
    chosen = supported_locale(request.cookies.get(LANGUAGE_COOKIE)) if request else None
    return chosen or current_app.config["BABEL_DEFAULT_LOCALE"]


def html_lang() -> str:
    return "zh-CN" if str(get_locale()).startswith("zh") else "en"


def money(fen: int) -> str:
    return format_fen(fen, locale=str(get_locale()))


def local_datetime(value, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    if value is None:
        return ""
    return format_datetime(value, fmt)


def mask_phone(phone: str | None) -> str:
    """138****0001: team lists show who is who without handing out numbers."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def init_app(app) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["fen"] = money
    app.jinja_env.filters["localdt"] = local_datetime
    app.jinja_env.filters["mask_phone"] = mask_phone
    from distweb.services.commission_view import lines_json

    app.jinja_env.globals["commission_lines"] = lines_json
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale())
