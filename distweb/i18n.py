"""Languages: zh-CN (catalogue folder zh_Hans_CN) by default, English second."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale, dates
from flask import current_app, request
from flask.globals import _cv_app
from flask_babel import Babel, Domain, get_domain, get_locale, get_timezone, get_translations
from flask_babel.speaklater import LazyString
from jinja2 import pass_eval_context
from markupsafe import Markup
from werkzeug.utils import cached_property

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


# --- the request's locale and catalogue, looked up once --------------------------------
#
# Flask-Babel finds the locale and the catalogue through about ten context-local reads on
# every call, and a page makes dozens of calls (every _() in a template, every label, every
# amount). The answers are kept in Flask-Babel's own per-request namespace, next to the
# locale it caches there, and keyed by that locale and domain: force_locale() and refresh()
# change them, so the cached catalogue never outlives the locale it was looked up for.


def _babel_state():
    """Flask-Babel's per-request namespace, or None before its first use / outside a context.
    Read from the app context directly: through the ``g`` proxy it cost several calls, and a
    page asks for it dozens of times."""
    ctx = _cv_app.get(None)
    return getattr(ctx.g, "_flask_babel", None) if ctx is not None else None


def current_locale():
    """The request's ``babel.Locale`` (Flask-Babel's choice, read from where it keeps it)."""
    state = _babel_state()
    return (getattr(state, "babel_locale", None) if state is not None else None) or get_locale()


def translations():
    """The request's gettext catalogue, the same one Flask-Babel's get_translations() returns."""
    state = _babel_state()
    if state is None:
        return get_translations()
    key = (getattr(state, "babel_locale", None), getattr(state, "babel_domain", None))
    cached = getattr(state, "distweb_translations", None)
    if key[0] is not None and cached is not None and cached[0] == key:
        return cached[1]
    domain = get_domain()
    # Flask-Babel's own lookup (RequestCachedDomain's would come back here); it also settles
    # the request's locale when nothing has asked for it yet.
    catalogue = Domain.get_translations(domain)
    state.distweb_translations = ((state.babel_locale, domain), catalogue)
    return catalogue


def gettext(string: str, **variables) -> str:
    """flask_babel.gettext by the short path (for labels shown many times on a page)."""
    rv = translations().ugettext(string)
    return rv % variables if variables else rv


def lazy_gettext(string: str, **variables) -> LazyString:
    """flask_babel.lazy_gettext by the short path; extracted under the same keywords (_l)."""
    return LazyString(gettext, string, **variables)


class RequestCachedDomain(Domain):
    """Flask-Babel's message domain, answering from the per-request cache above, so that
    gettext(), lazy_gettext() and the labels take the short path too."""

    def get_translations(self):
        state = _babel_state()
        if state is not None and getattr(state, "babel_domain", None) is self:
            return translations()
        return super().get_translations()


class DistwebBabel(Babel):
    @cached_property
    def domain_instance(self):
        return RequestCachedDomain(domain=self.domain)


# Templates' _(), gettext() and ngettext(), with the semantics of Jinja's "newstyle" gettext
# (the translation is marked safe when autoescaping and always used as a %-format string)
# but one function call each: Jinja's own wrappers go through three Context.call layers,
# and one that takes the whole context copies it after every {% set %} in a block.
@pass_eval_context
def template_gettext(eval_ctx, string: str, **variables) -> str:
    rv = translations().ugettext(string)
    if eval_ctx.autoescape:
        rv = Markup(rv)
    # Without a % sign formatting could change nothing; it is the costly part of a short label.
    return rv % variables if variables or "%" in rv else rv


@pass_eval_context
def template_ngettext(eval_ctx, singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    rv = translations().ungettext(singular, plural, num)
    if eval_ctx.autoescape:
        rv = Markup(rv)
    return rv % variables


_TEMPLATE_MEMO_SIZE = 20_000


def template_translations() -> dict:
    """Context processor: the template's _, gettext and ngettext bound to the request's
    catalogue, looked up once per render instead of once per call. A label without
    variables is the same text every time for a catalogue, so its final (escaped) form is
    kept with the catalogue: a page's thirty-odd labels cost a dictionary look-up each.
    The globals above stay for templates rendered without this context (imported macros)."""
    catalogue = translations()
    # The functions depend only on the catalogue: made once per catalogue, not per render.
    functions = getattr(catalogue, "_distweb_template_functions", None)
    if functions is None:
        functions = catalogue._distweb_template_functions = _template_functions(catalogue)
    return functions


def _template_functions(catalogue) -> dict:
    memo: dict = {}
    ugettext, ungettext = catalogue.ugettext, catalogue.ungettext

    @pass_eval_context
    def gettext(eval_ctx, string: str, **variables) -> str:
        if not variables:
            key = (string, eval_ctx.autoescape)
            rv = memo.get(key)
            if rv is None:
                rv = ugettext(string)
                if eval_ctx.autoescape:
                    rv = Markup(rv)
                if "%" in rv:
                    rv = rv % {}
                if len(memo) >= _TEMPLATE_MEMO_SIZE:  # labels are finite; keep it so anyway
                    memo.clear()
                memo[key] = rv
            return rv
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

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}


def html_lang() -> str:
    return "zh-CN" if str(current_locale()).startswith("zh") else "en"


def current_locale_name() -> str:
    """str(current_locale()), kept with the request's locale (Babel builds it afresh each time)."""
    state = _babel_state()
    locale = current_locale()
    cached = getattr(state, "distweb_locale_name", None) if state is not None else None
    if cached is not None and cached[0] is locale:
        return cached[1]
    name = str(locale)
    if state is not None:
        state.distweb_locale_name = (locale, name)
    return name


def money(fen: int) -> str:
    return format_fen(fen, locale=current_locale_name())


# The all-number patterns the templates use, which read the same in every language (Babel
# writes the same digits for zh and en): formatted by strftime, several times cheaper.
_NUMERIC_PATTERNS = {
    "yyyy-MM-dd HH:mm": "%Y-%m-%d %H:%M",
    "yyyy-MM-dd": "%Y-%m-%d",
    "MM-dd HH:mm": "%m-%d %H:%M",
    "MM-dd": "%m-%d",
    "HH:mm": "%H:%M",
}


def local_datetime(value, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """Flask-Babel's format_datetime(value, fmt) for an explicit pattern, minus its second
    look-up of the request's locale."""
    if value is None:
        return ""
    numeric = _NUMERIC_PATTERNS.get(fmt)
    if numeric is not None and isinstance(value, datetime):
        # As Babel does: a naive datetime is UTC.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(_zoneinfo()).strftime(numeric)
    return dates.format_datetime(value, fmt, tzinfo=get_timezone(), locale=current_locale())


def _zoneinfo() -> ZoneInfo:
    """The request's time zone (Flask-Babel's choice) as a ZoneInfo: Flask-Babel hands out a
    pytz zone, whose conversions run in Python; the same IANA zone from zoneinfo converts in C."""
    state = _babel_state()
    tz = getattr(state, "babel_tzinfo", None) if state is not None else None
    if tz is None:
        tz = get_timezone()
    return _zoneinfo_named(getattr(tz, "zone", None) or getattr(tz, "key", None) or str(tz))


@lru_cache(maxsize=64)
def _zoneinfo_named(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def mask_phone(phone: str | None) -> str:
    """138****0001: team lists show who is who without handing out numbers."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def init_app(app) -> None:
    """After Babel.init_app: replaces the template gettext callables it installed with ones
    that read the per-request catalogue."""
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    # _ is bound to gettext itself (the i18n extension's alias looks gettext up per call).
    app.jinja_env.globals.update(_=template_gettext, gettext=template_gettext, ngettext=template_ngettext)
    app.context_processor(template_translations)
    app.jinja_env.filters["fen"] = money
    app.jinja_env.filters["localdt"] = local_datetime
    app.jinja_env.filters["mask_phone"] = mask_phone
    from distweb.services.commission_view import lines_json

    app.jinja_env.globals["commission_lines"] = lines_json
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["current_locale"] = current_locale_name
