"""WeChat JS-SDK (微信 JS-SDK) for pages opened inside WeChat: the ``wx.config`` a page needs
before WeChat lets it call a JS API such as ``requestMerchantTransfer`` (商家转账's 确认收款).

WeChat checks the config's signature against the official account's jsapi_ticket and the
page's own URL (without its #fragment): SHA-1 over
``jsapi_ticket=…&noncestr=…&timestamp=…&url=…`` (keys in that order, values as they are).
The ticket is asked of WeChat at most once per ``expires_in`` for each AppID and shared by
every web process through Redis: WeChat limits how many tickets a day an account may fetch.
Without Redis the ticket is fetched for the page (slower, still correct)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time

from flask import current_app

from distweb.queues import REDIS_FAILURES, redis_connection
from distweb.services import online_pay

log = logging.getLogger(__name__)
TICKET_KEY = "wechat:jsapi-ticket:{appid}"
# Given back to WeChat this long before it says the ticket ends: a page signed just before
# the end would otherwise fail its config while the browser loads it.
TICKET_MARGIN_SECONDS = 600


def signature(ticket: str, nonce: str, timestamp: int, url: str) -> str:
    text = f"jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(text.encode()).hexdigest()


def page_config(brand_id: int, url: str, apis: tuple[str, ...]) -> dict:
    """The ``wx.config`` for the page at ``url`` (its fragment dropped) of the brand's
    official account, allowing ``apis``. Raises ProviderError/ServiceError when the brand's
    WeChat settings cannot get a ticket."""
    provider = online_pay.provider_for(brand_id, "wechat", require_enabled=False)
    appid = provider.settings["appid"]
    nonce, timestamp = secrets.token_hex(8), int(time.time())
    page = url.split("#", 1)[0]
    return {"debug": False, "appId": appid, "timestamp": timestamp, "nonceStr": nonce,
            "signature": signature(ticket_for(provider), nonce, timestamp, page), "jsApiList": list(apis)}


def ticket_for(provider) -> str:
    key = current_app.config.get("RQ_QUEUE_PREFIX", "") + TICKET_KEY.format(appid=provider.settings["appid"])
    try:
        cached = redis_connection().get(key)
    except REDIS_FAILURES:
        log.warning("Redis unavailable; fetching a jsapi_ticket for this page")
        cached = None
    if cached:
        return cached.decode()
    ticket, expires_in = provider.jsapi_ticket()
    try:
        redis_connection().set(key, ticket, ex=max(60, expires_in - TICKET_MARGIN_SECONDS))
    except REDIS_FAILURES:
        pass
    return ticket
