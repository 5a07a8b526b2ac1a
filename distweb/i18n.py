"""Languages: zh-CN (catalogue folder zh_Hans_CN) by default, English second."""

from __future__ import annotations

from functools import lru_cache

from babel import Locale, dates
from flask import current_app, request
from flask_babel import get_locale, get_timezone, get_translations
from jinja2 import pass_context, pass_eval_context
from markupsafe import Markup

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


def select_locale() -> Locale:
    chosen = supported_locale(request.cookies.get(LANGUAGE_COOKIE)) if request else None
    return _parsed_locale(chosen or current_app.config["BABEL_DEFAULT_LOCALE"])


@lru_cache(maxsize=16)
def _parsed_locale(code: str) -> Locale:
    """Babel's Locale for a catalogue name, parsed once (Flask-Babel parses what the selector
    returns on every request unless it is already a Locale)."""
    return Locale.parse(code)


def current_locale() -> Locale:
    """The request's ``babel.Locale`` (Flask-Babel's choice)."""
    return get_locale()


def translations():
    """The request's gettext catalogue (Flask-Babel's, kept by it for the request)."""
    return get_translations()


# Templates' _(), gettext() and ngettext() with the semantics of Jinja's "newstyle" gettext:
# the translation is marked safe when autoescaping, and always used as a %-format string.
@pass_eval_context
def template_gettext(eval_ctx, string: str, **variables) -> str:
    rv = get_translations().ugettext(string)
    if eval_ctx.autoescape:
        rv = Markup(rv)
    return rv % variables


@pass_eval_context
def template_ngettext(eval_ctx, singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    rv = get_translations().ungettext(singular, plural, num)
    if eval_ctx.autoescape:
        rv = Markup(rv)
    return rv % variables


def html_lang() -> str:
    return "zh-CN" if str(current_locale()).startswith("zh") else "en"


def current_locale_name() -> str:
    return str(get_locale())


def money(fen: int) -> str:
    return format_fen(fen, locale=current_locale_name())


def template_language() -> dict:
    """Context processor: the template's _, gettext, ngettext and the amounts' language bound
    to the catalogue and locale of this render (Flask-Babel's, asked once per render rather
    than once per label; a render inside force_locale gets that locale's)."""
    catalogue, locale_name = get_translations(), current_locale_name()
    ugettext, ungettext = catalogue.ugettext, catalogue.ungettext

    @pass_eval_context
    def gettext(eval_ctx, string: str, **variables) -> str:
        rv = ugettext(string)
        if eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables

    @pass_eval_context
    def ngettext(eval_ctx, singular: str, plural: str, num: int, **variables) -> str:
        variables.setdefault("num", num)
        rv = ungettext(singular, plural, num)
        if eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext, "language_of_render": locale_name}


@pass_context
def money_filter(context, fen: int) -> str:
    """``|fen``: in the render's language (``template_language``), or the request's."""
    return format_fen(fen, locale=context.get("language_of_render") or current_locale_name())


def local_datetime(value, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A time in the request's time zone and language, by a Babel pattern."""
    if value is None:
        return ""
    return dates.format_datetime(value, fmt, tzinfo=get_timezone(), locale=get_locale())


def mask_phone(phone: str | None) -> str:
    """138****0001: team lists show who is who without handing out numbers."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def init_app(app) -> None:
    """After Babel.init_app."""
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals.update(_=template_gettext, gettext=template_gettext, ngettext=template_ngettext)
    app.context_processor(template_language)
    app.jinja_env.filters["fen"] = money_filter
    app.jinja_env.filters["localdt"] = local_datetime
    app.jinja_env.filters["mask_phone"] = mask_phone
    from distweb.services.commission_view import lines_json

    app.jinja_env.globals["commission_lines"] = lines_json
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["current_locale"] = current_locale_name
