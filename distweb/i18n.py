"""Languages: zh-CN (catalogue folder zh_Hans_CN) by default, English second."""

from __future__ import annotations

from flask import current_app, g, request
from flask_babel import Babel, Domain, format_datetime, get_domain, get_locale, get_translations
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


def select_locale() -> str:
    chosen = supported_locale(request.cookies.get(LANGUAGE_COOKIE)) if request else None
    return chosen or current_app.config["BABEL_DEFAULT_LOCALE"]


# --- the request's locale and catalogue, looked up once --------------------------------
#
# Flask-Babel finds the locale and the catalogue through about ten context-local reads on
# every call, and a page makes dozens of calls (every _() in a template, every label, every
# amount). The answers are kept in Flask-Babel's own per-request namespace, next to the
# locale it caches there, and keyed by that locale and domain: force_locale() and refresh()
# change them, so the cached catalogue never outlives the locale it was looked up for.


def _babel_state():
    """Flask-Babel's per-request namespace, or None before its first use / outside a context."""
    try:
        return g._flask_babel
    except (AttributeError, RuntimeError):
        return None


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


def html_lang() -> str:
    return "zh-CN" if str(current_locale()).startswith("zh") else "en"


def money(fen: int) -> str:
    return format_fen(fen, locale=str(current_locale()))


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
    app.jinja_env.filters["fen"] = money
    app.jinja_env.filters["localdt"] = local_datetime
    app.jinja_env.filters["mask_phone"] = mask_phone
    from distweb.services.commission_view import lines_json

    app.jinja_env.globals["commission_lines"] = lines_json
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["current_locale"] = lambda: str(current_locale())
