"""Templates, labels and gettext follow every change of locale within a request."""

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
