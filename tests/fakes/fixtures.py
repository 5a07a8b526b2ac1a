"""The stand-in providers as pytest fixtures (import them into a test module)."""

from __future__ import annotations

import pytest

from tests.fakes.alipay import AlipayStandIn
from tests.fakes.wechatpay import WeChatPayStandIn


@pytest.fixture(scope="module")
def wechat(tmp_path_factory):
    stand_in = WeChatPayStandIn(tmp_path_factory.mktemp("wechat-tls")).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def alipay():
    stand_in = AlipayStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def trusted(wechat, monkeypatch):
    """requests' documented CA setting names the stand-in's TLS certificate for the WeChat
    hosts (the SDK calls them through its proxy setting, which points at the stand-in)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(wechat.ca_bundle))
    return wechat
