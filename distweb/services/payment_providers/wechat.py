"""WeChat Pay (微信支付) API v3 through the ``wechatpayv3`` SDK (PyPI, pinned).

- Checkout: JSAPI inside WeChat (the buyer's openid from the official account's OAuth),
  H5 in other phone browsers, Native (a QR code) on a desktop.
- Notifications: the SDK's ``callback`` verifies the ``Wechatpay-Signature`` over
  ``timestamp\\nnonce\\nbody\\n`` with the platform certificate named by
  ``Wechatpay-Serial`` (downloaded through ``/v3/certificates`` and decrypted with the APIv3
  key, or the 微信支付公钥 when its id is configured) and decrypts the AEAD_AES_256_GCM
  ``resource`` with the APIv3 key. We also refuse a timestamp more than five minutes off
  (a replay) and a resource for another merchant.

Where the SDK sends its requests: its gateway (https://api.mch.weixin.qq.com) is fixed, and
has no public setting (``Core`` keeps it in a private attribute we do not touch). What it
does expose is ``proxy`` (handed to ``requests`` as ``proxies``): a brand may set an egress
proxy on the settings page, and the tests point it at a stand-in on loopback that answers
for api.mch.weixin.qq.com (``tests/fakes/wechatpay.py``, trusted through ``requests``'
documented ``REQUESTS_CA_BUNDLE``). ``timeout`` comes from ``PAYMENT_HTTP_TIMEOUT``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import datetime

import requests
from wechatpayv3 import WeChatPay, WeChatPayType

from distweb.services.payment_providers.base import (
    BillRow,
    Notice,
    NotificationRejected,
    PayAction,
    PaymentProvider,
    PayRequest,
    ProviderError,
    RefundRequest,
    SplitRequest,
    SplitReturnRequest,
    TransferRequest,
)

NOTIFY_MAX_SKEW = 300  # seconds between a notification's timestamp and our clock
REQUIRED = ("mchid", "appid", "cert_serial_no", "private_key", "apiv3_key")

TRADE_STATES = {"SUCCESS": "paid", "REFUND": "paid", "NOTPAY": "pending", "USERPAYING": "pending",
                "CLOSED": "closed", "REVOKED": "closed", "PAYERROR": "failed"}
REFUND_STATES = {"SUCCESS": "succeeded", "PROCESSING": "pending", "CLOSED": "failed", "ABNORMAL": "failed"}
# 商家转账 bill states: only SUCCESS and FAIL/CANCELLED are final.
TRANSFER_STATES = {"SUCCESS": "succeeded", "FAIL": "failed", "CANCELLED": "failed"}
# 佣金报酬 (commission) is the transfer scene a promoter's withdrawal is; WeChat asks what for.
DEFAULT_SCENE = "1005"
SCENE_REPORT = [{"info_type": "岗位类型", "info_content": "推广员"}, {"info_type": "报酬说明", "info_content": "佣金提现"}]

_clients: dict[tuple, WeChatPay] = {}
_clients_lock = threading.Lock()


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


class WeChatPayProvider(PaymentProvider):
    name = "wechat"
    online = True
    channels = ("jsapi", "h5", "native")

    def __init__(self, settings: dict, secret: dict, timeout: float, cache_key: tuple):
        missing = [k for k in REQUIRED if not (settings.get(k) or secret.get(k))]
        if missing:
            raise ProviderError("config", "missing " + ", ".join(missing))
        self.settings, self.secret, self.timeout, self.cache_key = settings, secret, timeout, cache_key

    # ------------------------------------------------------------ the SDK client

    def client(self) -> WeChatPay:
        """One SDK client per saved configuration (certificate mode downloads the platform
        certificates when it is made)."""
        with _clients_lock:
            found = _clients.get(self.cache_key)
        if found is not None:
            return found
        s, k = self.settings, self.secret
        proxy = {"https": s["proxy"], "http": s["proxy"]} if s.get("proxy") else None
        use_public_key = bool(s.get("public_key_id") and k.get("public_key"))
        try:
            client = WeChatPay(
                wechatpay_type=WeChatPayType.NATIVE, mchid=s["mchid"], private_key=k["private_key"],
                cert_serial_no=s["cert_serial_no"], appid=s["appid"], apiv3_key=k["apiv3_key"],
                proxy=proxy, timeout=(self.timeout, self.timeout),
                public_key=k["public_key"] if use_public_key else None,
                public_key_id=s["public_key_id"] if use_public_key else None,
            )
        except requests.Timeout as err:
            raise ProviderError("timeout", "no answer from WeChat Pay") from err
        except requests.RequestException as err:
            raise ProviderError("provider_error", f"WeChat Pay unreachable: {type(err).__name__}") from err
        except Exception as err:  # noqa: BLE001 — the SDK raises bare Exception for bad keys/certificates
            raise ProviderError("config", f"WeChat Pay settings refused: {err}") from err
        with _clients_lock:
            _clients[self.cache_key] = client
        return client

    def _call(self, method, *args, **kwargs) -> tuple[int, dict]:
        try:
            code, message = method(*args, **kwargs)
        except requests.Timeout as err:
            raise ProviderError("timeout", "no answer from WeChat Pay") from err
        except requests.RequestException as err:
            raise ProviderError("provider_error", f"WeChat Pay unreachable: {type(err).__name__}") from err
        except Exception as err:  # noqa: BLE001 — e.g. the SDK's "failed to verify the signature"
            raise ProviderError("provider_error", f"WeChat Pay answer refused: {err}") from err
        body = {}
        if message:
            try:
                body = json.loads(message) if isinstance(message, str | bytes) else {}
            except ValueError:
                body = {}
        if not 200 <= code < 300:
            raise ProviderError("provider_error", f"{body.get('code') or code}: {body.get('message') or ''}".strip())
        return code, body

    # ------------------------------------------------------------ the interface

    def channel_for(self, browser: str) -> str | None:
        if browser == "wechat":
            return "jsapi"
        return "h5" if browser == "mobile" else "native"

    def start(self, request: PayRequest) -> PayAction:
        client = self.client()
        kwargs = {"description": request.description[:127], "out_trade_no": request.out_trade_no,
                  "amount": {"total": request.amount_fen, "currency": "CNY"}, "notify_url": request.notify_url}
        if request.expires_at is not None:
            kwargs["time_expire"] = request.expires_at.isoformat(timespec="seconds")
        if request.profit_sharing:
            kwargs["settle_info"] = {"profit_sharing": True}  # 分账 later: the money waits frozen
        if request.channel == "native":
            _, body = self._call(client.pay, pay_type=WeChatPayType.NATIVE, **kwargs)
            if not body.get("code_url"):
                raise ProviderError("provider_error", "no code_url in the answer")
            return PayAction("qr", code=body["code_url"])
        if request.channel == "h5":
            scene = {"payer_client_ip": request.client_ip or "127.0.0.1", "h5_info": {"type": "Wap"}}
            _, body = self._call(client.pay, pay_type=WeChatPayType.H5, scene_info=scene, **kwargs)
            if not body.get("h5_url"):
                raise ProviderError("provider_error", "no h5_url in the answer")
            url = body["h5_url"]
            if request.return_url:
                from urllib.parse import quote

                url += ("&" if "?" in url else "?") + "redirect_url=" + quote(request.return_url, safe="")
            return PayAction("redirect", url=url)
        if request.channel == "jsapi":
            if not request.openid:
                raise ProviderError("config", "JSAPI needs the buyer's openid")
            _, body = self._call(client.pay, pay_type=WeChatPayType.JSAPI, payer={"openid": request.openid},
                                 **kwargs)
            if not body.get("prepay_id"):
                raise ProviderError("provider_error", "no prepay_id in the answer")
            timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
            package = "prepay_id=" + body["prepay_id"]
            sign = client.sign([self.settings["appid"], timestamp, nonce, package])
            return PayAction("jsapi", params={"appId": self.settings["appid"], "timeStamp": timestamp,
                                              "nonceStr": nonce, "package": package, "signType": "RSA",
                                              "paySign": sign})
        raise ProviderError("config", f"unknown channel {request.channel}")

    def query(self, out_trade_no: str) -> Notice:
        _, body = self._call(self.client().query, out_trade_no=out_trade_no)
        return self._payment_notice(body)

    def _payment_notice(self, body: dict) -> Notice:
        amount = (body.get("amount") or {}).get("total")
        return Notice("payment", str(body.get("out_trade_no") or ""),
                      TRADE_STATES.get(body.get("trade_state"), "pending"),
                      amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
                      body.get("transaction_id"), _time(body.get("success_time")),
                      body.get("trade_state_desc"))

    def close(self, out_trade_no: str) -> None:
        self._call(self.client().close, out_trade_no=out_trade_no)

    def refund(self, request: RefundRequest) -> Notice:
        _, body = self._call(
            self.client().refund, out_refund_no=request.out_refund_no, out_trade_no=request.out_trade_no,
            amount={"refund": request.amount_fen, "total": request.total_fen, "currency": "CNY"},
            reason=(request.reason or None), notify_url=request.notify_url)
        return self._refund_notice(body)

    def _refund_notice(self, body: dict) -> Notice:
        status = body.get("status") or body.get("refund_status")
        amount = (body.get("amount") or {}).get("refund")
        return Notice("refund", str(body.get("out_refund_no") or ""), REFUND_STATES.get(status, "pending"),
                      amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
                      body.get("refund_id"), _time(body.get("success_time")), status,
                      out_trade_no=body.get("out_trade_no"))

    def transfer(self, request: TransferRequest) -> Notice:
        """商家转账 to the payee's openid (under the brand's AppID). The bill may wait for the
        payee to confirm in WeChat; its final state comes by notification or query."""
        kwargs = {"out_bill_no": request.out_no, "transfer_scene_id": self.settings.get("transfer_scene_id")
                  or DEFAULT_SCENE, "openid": request.account, "transfer_amount": request.amount_fen,
                  "transfer_remark": request.remark[:32], "notify_url": request.notify_url,
                  "transfer_scene_report_infos": SCENE_REPORT}
        if request.amount_fen >= 30 and request.name:
            kwargs["user_name"] = request.name  # encrypted by the SDK with the platform key
        _, body = self._call(self.client().mch_transfer_bills, **kwargs)
        return self._transfer_notice(body)

    def transfer_query(self, out_no: str) -> Notice:
        _, body = self._call(self.client().mch_transfer_bills_query, out_bill_no=out_no)
        return self._transfer_notice(body)

    def transfer_cancel(self, out_no: str) -> Notice:
        """撤销转账 (before the payee confirms): WeChat answers CANCELING and cancels
        asynchronously; CANCELLED comes by query or notification. A bill the payee has
        confirmed, or one already final, is refused (provider_error)."""
        _, body = self._call(self.client().mch_transfer_bills_cancel, out_bill_no=out_no)
        return self._transfer_notice({"out_bill_no": out_no, **body})

    def _transfer_notice(self, body: dict) -> Notice:
        amount = body.get("transfer_amount")
        state = body.get("state")
        # A cancelled bill carries no fail_reason; its state is the reason.
        reason = body.get("fail_reason") or (state if state in ("CANCELING", "CANCELLED") else None)
        return Notice("payout", str(body.get("out_bill_no") or ""), TRANSFER_STATES.get(state, "pending"),
                      amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
                      body.get("transfer_bill_no"), _time(body.get("update_time")), reason,
                      package=(body.get("package_info") or None) if state == "WAIT_USER_CONFIRM" else None)

    def confirm_params(self, package: str) -> dict:
        """What the payee's page hands to WeChat's ``requestMerchantTransfer`` (JSAPI 调起用户
        确认收款) to open the confirm page for this bill: the merchant, the AppID the payee's
        openid belongs to, and the bill's package_info."""
        return {"mchId": self.settings["mchid"], "appId": self.settings["appid"], "package": package}

    def parse_notification(self, headers: dict, body: bytes) -> Notice:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            stamp = int(lowered.get("wechatpay-timestamp", ""))
        except ValueError:
            raise NotificationRejected("no timestamp") from None
        if abs(time.time() - stamp) > NOTIFY_MAX_SKEW:
            raise NotificationRejected("timestamp too far from now")
        try:
            text = body.decode("utf-8")
            result = self.client().callback(lowered, text)
        except ProviderError as err:
            raise NotificationRejected(f"platform certificates unavailable ({err.code})") from None
        except Exception as err:  # noqa: BLE001 — bad serial, algorithm or JSON: unverifiable
            raise NotificationRejected(f"unverifiable: {type(err).__name__}") from None
        if not result or not isinstance(result.get("resource"), dict):
            raise NotificationRejected("signature or decryption failed")
        resource, event = result["resource"], str(result.get("event_type") or "")
        # 商家转账's resource names its merchant ``mch_id``, the others ``mchid``.
        if any(resource.get(key) not in (None, self.settings["mchid"]) for key in ("mchid", "mch_id")):
            raise NotificationRejected("another merchant's notification")
        if event.startswith("TRANSACTION."):
            return self._payment_notice(resource)
        if event.startswith("REFUND."):
            return self._refund_notice(resource)
        if event.startswith("MCHTRANSFER."):
            return self._transfer_notice(resource)
        if event in ("PROFITSHARING.SUCCESS", "PROFITSHARING.RETURN"):
            # 分账动账通知 has two events only: PROFITSHARING.SUCCESS (a receiver of a split
            # was paid) and PROFITSHARING.RETURN (分账回退: money taken back from one). A
            # receiver that fails (CLOSED) is told by no notification: only 查询分账结果.
            receiver = resource.get("receiver") or {}
            amount = receiver.get("amount")
            return Notice("split" if event == "PROFITSHARING.SUCCESS" else "split_return",
                          str(resource.get("out_order_no") or ""), "succeeded",
                          amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
                          resource.get("order_id"), _time(resource.get("success_time")), event,
                          account=receiver.get("account"))
        raise NotificationRejected(f"unknown event type {event[:40]}")

    # ------------------------------------------------------------ 分账

    def split(self, request: SplitRequest) -> Notice:
        """请求分账 on the payment (made with settle_info.profit_sharing), every receiver
        bound before (``bind_receiver``); the rest of the order is unfrozen to the brand
        (``unfreeze_unsplit``)."""
        receivers = [{"type": kind, "account": account, "amount": amount, "description": request.description[:80]}
                     for account, amount, kind in request.receivers]
        _, body = self._call(self.client().profitsharing_order, transaction_id=request.provider_txn_id,
                             out_order_no=request.out_no, receivers=receivers, unfreeze_unsplit=True)
        return self._split_notice(request.out_no, body)

    RELATION = {"supplier": "SUPPLIER", "promoter": "DISTRIBUTOR"}

    def unfreeze(self, out_no: str, provider_txn_id: str) -> None:
        """解冻剩余资金: a payment made splittable whose split sends nothing goes to the brand."""
        self._call(self.client().profitsharing_unfreeze, transaction_id=provider_txn_id, out_order_no=out_no,
                   description="解冻全部剩余资金")

    def bind_receiver(self, account: str, account_type: str, kind: str, name: str | None = None) -> None:
        """添加分账接收方 (an openid under the brand's AppID, or a merchant id). ``name`` is
        the merchant's full registered name (商户全称), required for a MERCHANT_ID, or the
        person's real name, optional for an openid (checked when given); the SDK encrypts it
        with the platform key."""
        if account_type == "MERCHANT_ID" and not name:
            raise ProviderError("config", "WeChat Pay needs a merchant receiver's full name (商户全称)")
        self._call(self.client().profitsharing_add_receiver, account_type=account_type, account=account,
                   relation_type=self.RELATION.get(kind, "CUSTOM"), name=name or None,
                   custom_relation=None if kind in self.RELATION else "分账")

    def split_return(self, request: SplitReturnRequest) -> Notice:
        """请求分账回退, one return-order per receiver (``out_no``-<n>, so a repeat is the
        same return): only a merchant receiver can be asked (WeChat Pay returns nothing
        from a person's change). All SUCCESS: succeeded; a FAILED one: failed."""
        results, reasons = [], []
        for n, (account, amount, kind) in enumerate(request.receivers, start=1):
            if kind != "MERCHANT_ID":
                raise ProviderError("config", "only a merchant receiver can return a split")
            _, body = self._call(self.client().profitsharing_return, out_return_no=f"{request.out_no}-{n}",
                                 return_mchid=account, amount=amount, description=request.description[:80],
                                 out_order_no=request.split_out_no)
            results.append(body.get("result"))
            if body.get("fail_reason"):
                reasons.append(str(body["fail_reason"]))
        if any(r == "FAILED" for r in results):
            return Notice("split_return", request.out_no, "failed", reason=",".join(reasons) or "FAILED")
        status = "succeeded" if results and all(r == "SUCCESS" for r in results) else "pending"
        return Notice("split_return", request.out_no, status)

    def split_query(self, out_no: str, provider_txn_id: str) -> Notice:
        """查询分账结果 (GET /v3/profitsharing/orders/{out_order_no}?transaction_id=…): the
        split's state as its answer gives it; ``not_found`` when WeChat has no such split
        (RESOURCE_NOT_EXISTS: the request never reached it)."""
        try:
            _, body = self._call(self.client().profitsharing_order_query, transaction_id=provider_txn_id,
                                 out_order_no=out_no)
        except ProviderError as err:
            if err.code == "provider_error" and err.reason.startswith("RESOURCE_NOT_EXISTS"):
                return Notice("split", out_no, "not_found", reason=err.reason)
            raise
        return self._split_notice(out_no, body)

    def _split_notice(self, out_no: str, body: dict) -> Notice:
        """All receivers SUCCESS: succeeded. Every result final but some CLOSED: the money
        went to the others — ``partial`` with each receiver's result (``failed`` when none
        got it). Otherwise pending."""
        receivers = body.get("receivers") or []
        results = [r.get("result") for r in receivers]
        if results and all(r == "SUCCESS" for r in results):
            return Notice("split", out_no, "succeeded", provider_id=body.get("order_id"))
        if any(r == "CLOSED" for r in results) and all(r in ("SUCCESS", "CLOSED") for r in results):
            reasons = [r.get("fail_reason") for r in receivers if r.get("fail_reason")]
            parts = {str(r.get("account")): ("SUCCESS" if r.get("result") == "SUCCESS" else "CLOSED",
                                             r.get("fail_reason")) for r in receivers}
            return Notice("split", out_no, "partial" if "SUCCESS" in results else "failed",
                          provider_id=body.get("order_id"), reason=",".join(reasons) or "CLOSED", parts=parts)
        return Notice("split", out_no, "pending", provider_id=body.get("order_id"))

    # ------------------------------------------------------------ the daily bill (对账单)

    def bill(self, day) -> list[BillRow]:
        """交易账单 (``ALL``) of ``day``: asked for (its download URL and SHA1), downloaded
        with a signed request (the file itself carries no signature), unzipped, checked
        against the hash (WeChat hashes the original file, not the gzip: "原始账单（gzip需要
        解压缩）的摘要值"), and read: every field starts with a backquote; a SUCCESS row is a
        payment, a REFUND row a refund (商户退款单号).

        Amounts are the ones distweb asked for: 订单金额 for a payment and 申请退款金额 for a
        refund. 应结订单金额 and 退款金额 leave out a merchant-funded (免充值) coupon, and a
        refund row's 应结订单金额 is 0.00. Bills in WeChat's early format name them 总金额
        and 退款金额."""
        import csv
        import gzip
        import hashlib
        import io

        from distweb.money import parse_yuan

        client = self.client()
        _, meta = self._call(client.trade_bill, bill_date=day.isoformat(), bill_type="ALL", tar_type="GZIP")
        try:
            code, content = client.download_bill(meta["download_url"])
        except requests.Timeout as err:
            raise ProviderError("timeout", "no answer from WeChat Pay") from err
        except (requests.RequestException, KeyError) as err:
            raise ProviderError("provider_error", f"bill download failed: {type(err).__name__}") from err
        if code != 200 or not isinstance(content, bytes):
            raise ProviderError("provider_error", f"bill download failed: HTTP {code}")
        try:
            original = gzip.decompress(content)
        except (OSError, EOFError) as err:
            raise ProviderError("provider_error", "bill unreadable") from err
        if str(meta.get("hash_type") or "").upper() == "SHA1" and hashlib.sha1(
                original, usedforsecurity=False).hexdigest() != str(meta.get("hash_value") or "").lower():
            raise ProviderError("provider_error", "bill hash mismatch")
        try:
            text = original.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ProviderError("provider_error", "bill unreadable") from err
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return []
        header = [h.strip() for h in rows[0]]
        payment_column = "订单金额" if "订单金额" in header else "总金额"
        refund_column = "申请退款金额" if "申请退款金额" in header else "退款金额"
        out = []
        for raw in rows[1:]:
            if not raw or not raw[0].startswith("`"):
                break  # the totals follow the rows
            row = dict(zip(header, (v.lstrip("`").strip() for v in raw), strict=False))
            try:
                if row.get("交易状态") == "SUCCESS":
                    out.append(BillRow("payment", row["商户订单号"], parse_yuan(row[payment_column]),
                                       row.get("微信订单号")))
                elif row.get("交易状态") == "REFUND":
                    out.append(BillRow("refund", row["商户退款单号"], parse_yuan(row[refund_column]),
                                       row.get("微信退款单号")))
            except (KeyError, ValueError) as err:
                raise ProviderError("provider_error", "bill row unreadable") from err
        return out

    # ------------------------------------------------------------ JSAPI: the buyer's openid

    OAUTH_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
    OAUTH_TOKEN = "https://api.weixin.qq.com/sns/oauth2/access_token"

    def oauth_url(self, redirect_uri: str, state: str) -> str:
        """Where WeChat asks nothing of the buyer (snsapi_base) and comes back with a code."""
        from urllib.parse import urlencode

        query = urlencode({"appid": self.settings["appid"], "redirect_uri": redirect_uri, "response_type": "code",
                           "scope": "snsapi_base", "state": state})
        return f"{self.OAUTH_AUTHORIZE}?{query}#wechat_redirect"

    def openid_for_code(self, code: str) -> str:
        if not self.secret.get("app_secret"):
            raise ProviderError("config", "missing app_secret")
        body = self._official_account("GET", self.OAUTH_TOKEN, params={
            "appid": self.settings["appid"], "secret": self.secret["app_secret"], "code": code,
            "grant_type": "authorization_code"})
        if not body.get("openid"):
            raise ProviderError("provider_error", f"{body.get('errcode', '')}")
        return str(body["openid"])[:64]

    # ------------------------------------------------------------ JS-SDK: the page's wx.config

    STABLE_TOKEN = "https://api.weixin.qq.com/cgi-bin/stable_token"
    JSAPI_TICKET = "https://api.weixin.qq.com/cgi-bin/ticket/getticket"

    def jsapi_ticket(self) -> tuple[str, int]:
        """The official account's jsapi_ticket and how many seconds it stays good. The access
        token comes from ``stable_token`` (not ``token``), so that fetching one here does not
        invalidate the token another system of the brand holds for the same AppID."""
        if not self.secret.get("app_secret"):
            raise ProviderError("config", "missing app_secret")
        token = self._official_account("POST", self.STABLE_TOKEN, json={
            "grant_type": "client_credential", "appid": self.settings["appid"],
            "secret": self.secret["app_secret"], "force_refresh": False})
        if not token.get("access_token"):
            raise ProviderError("provider_error", f"stable_token {token.get('errcode', '')}")
        ticket = self._official_account("GET", self.JSAPI_TICKET, params={
            "access_token": token["access_token"], "type": "jsapi"})
        if ticket.get("errcode") not in (0, None) or not ticket.get("ticket"):
            raise ProviderError("provider_error", f"getticket {ticket.get('errcode', '')}")
        return str(ticket["ticket"]), int(ticket.get("expires_in") or 7200)

    def _official_account(self, method: str, url: str, **kwargs) -> dict:
        """One call to the official account's API (api.weixin.qq.com), through the brand's
        egress proxy if it has one: its JSON answer, or a ProviderError."""
        proxy = {"https": self.settings["proxy"], "http": self.settings["proxy"]} if self.settings.get("proxy") else None
        try:
            response = requests.request(method, url, timeout=self.timeout, proxies=proxy, **kwargs)
            body = response.json()
        except requests.Timeout as err:
            raise ProviderError("timeout", "no answer from WeChat") from err
        except (requests.RequestException, ValueError) as err:
            raise ProviderError("provider_error", f"WeChat API failed: {type(err).__name__}") from err
        if not isinstance(body, dict):
            raise ProviderError("provider_error", "WeChat API answered no object")
        return body

    def acknowledge(self, ok: bool):
        if ok:
            return "", 204, {}
        return json.dumps({"code": "FAIL", "message": "失败"}), 500, {"Content-Type": "application/json"}
