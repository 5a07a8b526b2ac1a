"""The request's catalogue is looked up once (distweb.i18n); it must still follow every change
of locale within the request."""

from flask import render_template_string
from flask_babel import force_locale, gettext, refresh

from distweb import labels
from distweb.i18n import current_locale, money
from distweb.models.order import OrderStatus


def _page_words() -> tuple[str, str, str]:
    return (
        render_template_string("{{ _('首页') }}"),
        gettext("首页"),
        str(labels.ORDER_STATUS[OrderStatus.PAID]),
    )


def test_templates_labels_and_gettext_follow_force_locale_inside_a_request(app):
    with app.test_request_context("/"):
        assert _page_words() == ("首页", "首页", "已付款")
        with force_locale("en"):
            assert _page_words() == ("Home", "Home", "Paid")
            assert str(current_locale()) == "en"
        assert _page_words() == ("首页", "首页", "已付款")
        assert str(current_locale()) == "zh_Hans_CN"


def test_the_language_cookie_picks_the_catalogue_and_refresh_rereads_it(app):
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        assert _page_words() == ("Home", "Home", "Paid")
        assert money(123456) == "¥1,234.56"
        from flask import request

        request.cookies = {"lang": "zh"}  # as if the selector's answer changed mid-request
        refresh()
        assert _page_words() == ("首页", "首页", "已付款")


def test_outside_a_request_the_default_catalogue_answers(app):
    with app.app_context():
        assert gettext("首页") == "首页"


def test_the_per_render_template_gettext_says_what_the_global_one_says(app):
    """The context's _/gettext/ngettext (bound once per render, labels remembered per
    catalogue) against the globals they shadow, escaped and not, with and without variables."""
    from flask import render_template_string

    from distweb.i18n import template_gettext, template_ngettext

    source = ("{{ _('首页') }}|{{ _('你好，%(name)s', name=who) }}|{{ gettext('邀请码') }}|"
              "{{ ngettext('%(num)s 单', '%(num)s 单', n) }}|{{ _('100%% 到账') }}")
    for lang in ("zh_Hans_CN", "en"):
        with app.test_request_context("/"), force_locale(lang):
            bound = render_template_string(source, who="<b>", n=3)
            bound_again = render_template_string(source, who="<b>", n=3)  # from the memo
            env = app.jinja_env.overlay()
            env.globals.update(_=template_gettext, gettext=template_gettext, ngettext=template_ngettext)
            plain = env.from_string(source).render(who="<b>", n=3)
            assert bound == bound_again == plain
            assert "&lt;b&gt;" in bound and "100% " in bound


def test_numeric_date_patterns_match_babel(app):
    from datetime import UTC, datetime, timedelta, timezone

    from babel import dates
    from flask_babel import get_timezone

    from distweb.i18n import _NUMERIC_PATTERNS, local_datetime

    moments = [datetime(2026, 1, 31, 16, 5, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59),
               datetime(2026, 6, 1, 0, 0, tzinfo=timezone(timedelta(hours=-7)))]
    for lang in ("zh_Hans_CN", "en"):
        with app.test_request_context("/"), force_locale(lang):
            for fmt in _NUMERIC_PATTERNS:
                for moment in moments:
                    babel = dates.format_datetime(moment, fmt, tzinfo=get_timezone(), locale=current_locale())
                    assert local_datetime(moment, fmt) == babel, (lang, fmt, moment)
