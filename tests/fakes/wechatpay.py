"""A stand-in for WeChat Pay API v3 on loopback, as the SDK meets it.

The ``wechatpayv3`` SDK always calls https://api.mch.weixin.qq.com; its documented
``proxy`` setting is pointed here. This server answers ``CONNECT`` and then speaks TLS
itself with a certificate for the WeChat hosts signed by a throwaway CA (trusted through
``REQUESTS_CA_BUNDLE``), so the SDK's own requests, signatures and checks all run.

What it implements, from WeChat Pay's documentation:
- every request's ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,
  signature=…,timestamp=…,serial_no=…`` is checked against the merchant's public key over
  ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (401 SIGN_ERROR otherwise);
- every answer is signed with the platform key: ``Wechatpay-Timestamp/Nonce/Serial/
  Signature`` over ``TIMESTAMP\\nNONCE\\nBODY\\n``;
- ``GET /v3/certificates`` (the platform certificate, AEAD_AES_256_GCM-encrypted with the
  APIv3 key), ``POST /v3/pay/transactions/{native,h5,jsapi}``, ``GET …/out-trade-no/{no}``,
  ``POST …/out-trade-no/{no}/close`` (204), ``POST /v3/refund/domestic/refunds``, 分账
  (``POST /v3/profitsharing/receivers/add``, ``POST /v3/profitsharing/orders``,
  ``GET /v3/profitsharing/orders/{out_order_no}?transaction_id=…`` (查询分账结果),
  ``POST /v3/profitsharing/orders/unfreeze``,
  ``POST/GET /v3/profitsharing/return-orders``: 分账回退 from a merchant receiver only), and
  the official account's OAuth ``GET /sns/oauth2/access_token`` (api.weixin.qq.com: a code
  from ``oauth_code`` for its openid, good once: 40163 after, 40029 for no code), and its
  JS-SDK: ``POST /cgi-bin/stable_token`` and ``GET /cgi-bin/ticket/getticket?type=jsapi``;
  ``bridge`` plays WeChat's client for a page's ``WeixinJSBridge`` (wx.config's
  ``preVerifyJSAPI`` signature check, ``checkJsApi``, ``requestMerchantTransfer`` only on a
  page whose config was verified);
- 商家转账 (用户确认模式): ``POST /v3/fund-app/mch-transfer/transfer-bills`` answers
  WAIT_USER_CONFIRM with the bill's ``package_info``; ``confirm_transfer`` is the payee
  confirming on the page ``requestMerchantTransfer`` opens (its own openid only), and
  ``transfer_done`` any final state (FAIL with OVERDUE_CLOSE: not confirmed in 24 hours);
  ``POST …/transfer-bills/out-bill-no/{no}/cancel`` (撤销转账) answers CANCELING while the
  payee has not confirmed (400 INVALID_REQUEST after), ``cancel_done`` makes it CANCELLED;
- H5 支付's cashier page (``h5``: the page at the ``h5_url``, paying posts the notification
  to the merchant and returns to the ``redirect_url``), for browser tests;
- notifications (``TRANSACTION.SUCCESS``, ``REFUND.SUCCESS``, ``PROFITSHARING.SUCCESS``/``.RETURN`` …): the resource encrypted with
  AEAD_AES_256_GCM under the APIv3 key, the body signed with the platform key; returned to
  the test as (headers, body) to post to distweb.

Faults: ``fail_next(status, code, message)`` answers the next API call with an error;
``lose_answers`` lists (method, path) calls to carry out but answer 500 SYSTEM_ERROR;
``delay`` holds every answer that many seconds (a timeout for a short client timeout).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import secrets
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.fakes.keys import rsa_key, self_signed, tls_files

HOSTS = ("api.mch.weixin.qq.com", "api.weixin.qq.com")


def beijing(fmt: str) -> str:
    """Now in Beijing time (the providers' clock), as ``fmt``."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime(fmt)


def _sign(key, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


class WeChatPayStandIn:
    TLS_FOLDER = "wechat-tls"  # where a live server's CA bundle is expected (tests/e2e/conftest.py)

    def __init__(self, directory: Path, mchid="1900000109", appid="wx8888888888888888", apiv3_key=None):
        self.mchid, self.appid = mchid, appid
        self.apiv3_key = apiv3_key or secrets.token_hex(16)  # 32 characters
        self.merchant_key = rsa_key("wechat-merchant")
        self.merchant_serial = "3775B6A45ACD588826D15E583A95F5DD" + "00000000"
        self.platform_key = rsa_key("wechat-platform")
        self.platform_cert = self_signed(self.platform_key, "Tenpay.com Root CA stand-in", 0x5157F09EFDC096DE15EBE81A47057A72)
        self.platform_serial = format(self.platform_cert.serial_number, "X")
        self.ca_bundle, cert, key = tls_files(directory, HOSTS)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(str(cert), str(key))
        self.transactions: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.transfers: dict[str, dict] = {}
        self.cancels: list[str] = []  # out_bill_no of each cancel that took effect
        self.app_secret = "stand-in-app-secret"  # the official account's AppSecret WeChat knows
        self.access_token = "ACCESS-" + secrets.token_hex(8)
        self.jsapi_ticket = "TICKET-" + secrets.token_hex(16)
        self.token_calls = self.ticket_calls = 0
        self.verified_pages: dict[str, set[str]] = {}  # page URL -> the JS APIs its wx.config allowed
        self.oauth_codes: dict[str, str] = {}  # code -> the openid WeChat's OAuth vouches for
        self.used_codes: set[str] = set()
        self.bill_files: dict[str, bytes] = {}
        self.splits: dict[str, dict] = {}
        self.split_receivers: set[str] = set()
        self.receiver_names: dict[str, str | None] = {}  # account -> the (decrypted) name it was added with
        self.split_processing = False  # splits answer PROCESSING; the result comes by notification
        self.split_returns: dict[str, dict] = {}
        self.refusing_returns: set[str] = set()  # merchant ids whose returns fail (their balance short)
        self.abnormal_receivers: set[str] = set()
        self.extra_bill_rows: list[tuple[str, str, int]] = []
        self.bill_tampered = False  # the file downloaded is not the one the hash was made of
        self.calls: list[tuple[str, str, dict | None]] = []
        self.failures: list[tuple[int, str, str]] = []
        self.delay = 0.0
        self.lose_answers: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ---------------------------------------------------------------- lifecycle

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, status: int, code: str, message: str) -> None:
        self.failures.append((status, code, message))

    def settings(self) -> tuple[dict, dict]:
        """What a manager would type on the settings page for this merchant."""
        from tests.fakes.keys import private_pem

        return ({"mchid": self.mchid, "appid": self.appid, "cert_serial_no": self.merchant_serial,
                 "public_key_id": "", "proxy": self.proxy_url},
                {"private_key": private_pem(self.merchant_key), "apiv3_key": self.apiv3_key,
                 "app_secret": "stand-in-app-secret"})

    # ---------------------------------------------------------------- notifications

    def _encrypt(self, plain: dict, associated: str) -> dict:
        nonce = secrets.token_hex(6)  # 12 characters, as WeChat's
        ciphertext = AESGCM(self.apiv3_key.encode()).encrypt(nonce.encode(), json.dumps(plain).encode(),
                                                            associated.encode())
        return {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": associated, "original_type": "transaction", "nonce": nonce}

    def notification(self, event_type: str, resource: dict, *, sign_key=None, timestamp=None,
                     apiv3_key: str | None = None) -> tuple[dict, bytes]:
        """A notification as WeChat Pay posts it: (headers, body)."""
        encrypted = self._encrypt(resource, "transaction")
        if apiv3_key is not None:  # encrypted with another key: cannot be decrypted
            nonce = encrypted["nonce"]
            encrypted["ciphertext"] = base64.b64encode(AESGCM(apiv3_key.encode()).encrypt(
                nonce.encode(), json.dumps(resource).encode(), b"transaction")).decode()
        body = json.dumps({"id": str(uuid.uuid4()), "create_time": beijing("%Y-%m-%dT%H:%M:%S+08:00"),
                           "resource_type": "encrypt-resource", "event_type": event_type,
                           "summary": "支付成功", "resource": encrypted}, ensure_ascii=False)
        stamp, nonce = str(timestamp or int(time.time())), secrets.token_hex(16)
        signature = _sign(sign_key or self.platform_key, f"{stamp}\n{nonce}\n{body}\n")
        headers = {"Wechatpay-Timestamp": stamp, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": self.platform_serial,
                   "Wechatpay-Signature": signature, "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
                   "Content-Type": "application/json"}
        return headers, body.encode()

    def pay(self, out_trade_no: str, **kwargs) -> tuple[dict, bytes]:
        """The buyer pays: the transaction succeeds and its notification is returned."""
        with self.lock:
            trade = self.transactions[out_trade_no]
            trade["trade_state"] = "SUCCESS"
            trade.setdefault("transaction_id", "4200" + secrets.token_hex(12))
            trade["success_time"] = beijing("%Y-%m-%dT%H:%M:%S+08:00")
        return self.notification("TRANSACTION.SUCCESS", self._trade_view(trade), **kwargs)

    def refund_done(self, out_refund_no: str, status: str = "SUCCESS") -> tuple[dict, bytes]:
        with self.lock:
            refund = self.refunds[out_refund_no]
            refund["status"] = status
            refund["success_time"] = beijing("%Y-%m-%dT%H:%M:%S+08:00")
        resource = {"mchid": self.mchid, "out_trade_no": refund["out_trade_no"],
                    "transaction_id": refund["transaction_id"], "out_refund_no": out_refund_no,
                    "refund_id": refund["refund_id"], "refund_status": status,
                    "success_time": beijing("%Y-%m-%dT%H:%M:%S+08:00"),
                    "amount": {"total": refund["total"], "refund": refund["refund"], "payer_total": refund["total"],
                               "payer_refund": refund["refund"]}, "user_received_account": "支付用户零钱"}
        return self.notification(f"REFUND.{status}", resource)

    def split_notification(self, out_order_no: str, account: str, **kwargs) -> tuple[dict, bytes]:
        """分账动账通知 PROFITSHARING.SUCCESS: one receiver of a split paid (its result made
        final here). WeChat sends none for a receiver that fails: ``finish_split`` with
        ``closed``, and only the query tells."""
        with self.lock:
            found = self.splits[out_order_no]
            receiver = next(r for r in found["receivers"] if r["account"] == account)
            assert receiver["result"] in ("PENDING", "SUCCESS"), "no notification for a closed receiver"
            receiver["result"] = "SUCCESS"
            if all(r["result"] != "PENDING" for r in found["receivers"]):
                found["state"] = "FINISHED"
        return self._profitsharing_notice("PROFITSHARING.SUCCESS", found, receiver, **kwargs)

    def return_notification(self, out_return_no: str, **kwargs) -> tuple[dict, bytes]:
        """分账动账通知 PROFITSHARING.RETURN for a 分账回退 that succeeded: the split and the
        receiver money was taken back from (not the return order's number)."""
        with self.lock:
            made = self.split_returns[out_return_no]
            assert made["result"] == "SUCCESS"
            found = self.splits[made["out_order_no"]]
            receiver = {"type": "MERCHANT_ID", "account": made["return_mchid"], "amount": made["amount"],
                        "description": made["description"]}
        return self._profitsharing_notice("PROFITSHARING.RETURN", found, receiver, **kwargs)

    def _profitsharing_notice(self, event: str, found: dict, receiver: dict, **kwargs) -> tuple[dict, bytes]:
        resource = {"mchid": self.mchid, "transaction_id": found["transaction_id"], "order_id": found["order_id"],
                    "out_order_no": found["out_order_no"],
                    "receiver": {"type": receiver["type"], "account": receiver["account"], "amount": receiver["amount"],
                                 "description": receiver["description"]},
                    "success_time": beijing("%Y-%m-%dT%H:%M:%S+08:00")}
        return self.notification(event, resource, **kwargs)

    def finish_split(self, out_order_no: str, closed: set[str] = frozenset()) -> None:
        """A processing split finishes (the ``closed`` accounts CLOSED, the rest SUCCESS)
        with no notification sent: only a query finds out."""
        with self.lock:
            found = self.splits[out_order_no]
            for receiver in found["receivers"]:
                receiver["result"] = "CLOSED" if receiver["account"] in closed else "SUCCESS"
                receiver["fail_reason"] = "ACCOUNT_ABNORMAL" if receiver["account"] in closed else None
            found["state"] = "FINISHED"

    def _return_order(self, data: dict):
        """请求分账回退: from a merchant receiver of the split, at most what it received less
        what earlier returns took; the same out_return_no is the same return."""
        if not data.get("out_return_no") or not data.get("return_mchid") or not data.get("description") \
                or not isinstance(data.get("amount"), int) or data["amount"] <= 0 \
                or not (data.get("out_order_no") or data.get("order_id")):
            return 400, {"code": "PARAM_ERROR", "message": "参数错误"}
        with self.lock:
            known = self.split_returns.get(data["out_return_no"])
            if known is not None:
                return 200, known
            found = self.splits.get(data.get("out_order_no") or "") or next(
                (f for f in self.splits.values() if f["order_id"] == data.get("order_id")), None)
            if found is None:
                return 400, {"code": "RESOURCE_NOT_EXISTS", "message": "分账单不存在"}
            receiver = next((r for r in found["receivers"] if r["account"] == data["return_mchid"]
                             and r["type"] == "MERCHANT_ID" and r["result"] == "SUCCESS"), None)
            if receiver is None:
                return 400, {"code": "INVALID_REQUEST", "message": "回退方不是该分账单的商户接收方"}
            returned = sum(r["amount"] for r in self.split_returns.values()
                           if r["out_order_no"] == found["out_order_no"] and r["return_mchid"] == data["return_mchid"]
                           and r["result"] != "FAILED")
            if returned + data["amount"] > receiver["amount"]:
                return 400, {"code": "INVALID_REQUEST", "message": "回退金额超过分账金额"}
            failed = data["return_mchid"] in self.refusing_returns
            made = {"order_id": found["order_id"], "out_order_no": found["out_order_no"],
                    "out_return_no": data["out_return_no"], "return_id": "3008450740201411110007820472",
                    "return_mchid": data["return_mchid"], "amount": data["amount"],
                    "description": data["description"], "result": "FAILED" if failed else "SUCCESS",
                    "create_time": beijing("%Y-%m-%dT%H:%M:%S+08:00"),
                    "finish_time": beijing("%Y-%m-%dT%H:%M:%S+08:00")}
            if failed:
                made["fail_reason"] = "ACCOUNT_ABNORMAL"
            self.split_returns[data["out_return_no"]] = made
        return 200, made

    def _trade_view(self, trade: dict) -> dict:
        view = {"appid": self.appid, "mchid": self.mchid, "out_trade_no": trade["out_trade_no"],
                "trade_state": trade["trade_state"], "trade_state_desc": trade["trade_state"],
                "amount": {"total": trade["total"], "payer_total": trade["total"], "currency": "CNY",
                           "payer_currency": "CNY"}, "trade_type": trade["trade_type"],
                "payer": {"openid": trade.get("openid") or "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}
        if trade.get("transaction_id"):
            view.update(transaction_id=trade["transaction_id"], success_time=trade.get("success_time"))
        return view

    # ---------------------------------------------------------------- the API

    def _certificates(self) -> dict:
        pem = self.platform_cert.public_bytes(serialization.Encoding.PEM).decode()
        encrypted = self._encrypt_text(pem, "certificate")
        return {"data": [{"serial_no": self.platform_serial,
                          "effective_time": self.platform_cert.not_valid_before_utc.isoformat(),
                          "expire_time": self.platform_cert.not_valid_after_utc.isoformat(),
                          "encrypt_certificate": encrypted}]}

    def _encrypt_text(self, text: str, associated: str) -> dict:
        nonce = secrets.token_hex(6)
        ciphertext = AESGCM(self.apiv3_key.encode()).encrypt(nonce.encode(), text.encode(), associated.encode())
        return {"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": associated,
                "ciphertext": base64.b64encode(ciphertext).decode()}

    def _authorized(self, method: str, path: str, body: str, header: str | None) -> bool:
        if not header or not header.startswith("WECHATPAY2-SHA256-RSA2048 "):
            return False
        fields = dict(part.split("=", 1) for part in header[len("WECHATPAY2-SHA256-RSA2048 "):].split(","))
        fields = {k.strip(): v.strip().strip('"') for k, v in fields.items()}
        if fields.get("mchid") != self.mchid or fields.get("serial_no") != self.merchant_serial:
            return False
        message = f"{method}\n{path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{body}\n"
        try:
            self.merchant_key.public_key().verify(base64.b64decode(fields.get("signature", "")), message.encode(),
                                                  padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True

    def answer(self, host: str, method: str, path: str, body: str, authorization: str | None):
        """(status, JSON body or None). A call listed in ``lose_answers`` (method, path) is
        carried out but answered 500 SYSTEM_ERROR, once (the outcome unknown to the caller)."""
        status, payload = self._answer(host, method, path, body, authorization)
        if status < 300 and (method, urlsplit(path).path) in self.lose_answers:
            self.lose_answers.remove((method, urlsplit(path).path))
            return 500, {"code": "SYSTEM_ERROR", "message": "系统繁忙，请稍后重试"}
        return status, payload

    def _answer(self, host: str, method: str, path: str, body: str, authorization: str | None):
        split = urlsplit(path)
        data = json.loads(body) if body else None
        self.calls.append((method, split.path, data))
        if host.startswith("api.weixin.qq.com"):
            query = parse_qs(split.query)
            if split.path == "/cgi-bin/stable_token":
                return self._stable_token(method, data)
            if split.path == "/cgi-bin/ticket/getticket":
                return self._jsapi_ticket(query)
            if query.get("appid") == [self.appid] and query.get("secret") == [self.app_secret] and query.get("code") \
                    and query.get("grant_type") == ["authorization_code"]:
                code = query["code"][0]
                with self.lock:
                    if code in self.used_codes:  # a code is good for one exchange
                        return 200, {"errcode": 40163, "errmsg": "code been used"}
                    openid = self.oauth_codes.pop(code, None)
                    if openid is not None:
                        self.used_codes.add(code)
                return 200, {"access_token": "ACCESS", "expires_in": 7200,
                             "openid": openid or "o-" + code[:20], "scope": "snsapi_base"}
            return 200, {"errcode": 40029, "errmsg": "invalid code"}
        if not self._authorized(method, path, body, authorization):
            return 401, {"code": "SIGN_ERROR", "message": "签名错误"}
        if method == "GET" and split.path == "/v3/certificates":
            return 200, self._certificates()
        if self.failures:  # the next business call (the SDK fetches certificates on its own)
            status, code, message = self.failures.pop(0)
            return status, {"code": code, "message": message}
        if method == "POST" and split.path.startswith("/v3/pay/transactions/") and split.path.count("/") == 4:
            kind = split.path.rsplit("/", 1)[1]
            total = (data.get("amount") or {}).get("total")
            if data.get("mchid") != self.mchid or data.get("appid") != self.appid or not isinstance(total, int) \
                    or total <= 0 or not data.get("notify_url") or not data.get("description"):
                return 400, {"code": "PARAM_ERROR", "message": "参数错误"}
            if kind == "h5" and not (data.get("scene_info") or {}).get("payer_client_ip"):
                return 400, {"code": "PARAM_ERROR", "message": "缺少 scene_info"}
            if kind == "jsapi" and not (data.get("payer") or {}).get("openid"):
                return 400, {"code": "PARAM_ERROR", "message": "缺少 openid"}
            prepay = "wx" + secrets.token_hex(14)
            with self.lock:
                known = self.transactions.get(data["out_trade_no"])
                if known and known["total"] != total:
                    return 400, {"code": "INVALID_REQUEST", "message": "201 商户订单号重复"}
                self.transactions[data["out_trade_no"]] = {
                    "out_trade_no": data["out_trade_no"], "total": total, "trade_state": "NOTPAY",
                    "trade_type": kind.upper(), "notify_url": data["notify_url"],
                    "profit_sharing": bool((data.get("settle_info") or {}).get("profit_sharing")),
                    "openid": (data.get("payer") or {}).get("openid"), "prepay_id": prepay,
                    "description": data["description"]}
            if kind == "native":
                return 200, {"code_url": f"weixin://wxpay/bizpayurl?pr={secrets.token_hex(4)}"}
            if kind == "h5":
                return 200, {"h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay}"}
            return 200, {"prepay_id": prepay}
        if split.path.startswith("/v3/pay/transactions/out-trade-no/"):
            number = split.path.split("/")[5]
            trade = self.transactions.get(number)
            if trade is None:
                return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
            if method == "POST" and split.path.endswith("/close"):
                if trade["trade_state"] == "SUCCESS":
                    return 400, {"code": "ORDERPAID", "message": "订单已支付"}
                trade["trade_state"] = "CLOSED"
                return 204, None
            return 200, self._trade_view(trade)
        if method == "POST" and split.path == "/v3/refund/domestic/refunds":
            trade = self.transactions.get(data.get("out_trade_no") or "")
            amount = data.get("amount") or {}
            if trade is None or trade["trade_state"] not in ("SUCCESS", "REFUND"):
                return 400, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在或未支付"}
            if amount.get("total") != trade["total"]:
                return 400, {"code": "PARAM_ERROR", "message": "订单金额不一致"}
            done = sum(r["refund"] for r in self.refunds.values()
                       if r["out_trade_no"] == trade["out_trade_no"] and r["status"] != "CLOSED"
                       and r["out_refund_no"] != data["out_refund_no"])
            if not isinstance(amount.get("refund"), int) or amount["refund"] <= 0 or done + amount["refund"] > trade["total"]:
                return 400, {"code": "INVALID_REQUEST", "message": "退款金额超过订单可退金额"}
            refund = self.refunds.setdefault(data["out_refund_no"], {
                "out_refund_no": data["out_refund_no"], "out_trade_no": trade["out_trade_no"],
                "transaction_id": trade["transaction_id"], "refund_id": "5030" + secrets.token_hex(12),
                "refund": amount["refund"], "total": trade["total"], "status": "PROCESSING",
                "create_time": beijing("%Y-%m-%d %H:%M:%S")})
            return 200, {"refund_id": refund["refund_id"], "out_refund_no": refund["out_refund_no"],
                         "transaction_id": refund["transaction_id"], "out_trade_no": refund["out_trade_no"],
                         "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "status": refund["status"],
                         "create_time": beijing("%Y-%m-%dT%H:%M:%S+08:00"),
                         "amount": {"total": refund["total"], "refund": refund["refund"], "currency": "CNY"}}
        if method == "POST" and split.path == "/v3/profitsharing/receivers/add":
            if data.get("type") not in ("MERCHANT_ID", "PERSONAL_OPENID") or not data.get("account") \
                    or data.get("appid") != self.appid or not data.get("relation_type") \
                    or (data["relation_type"] == "CUSTOM" and not data.get("custom_relation")):
                return 400, {"code": "PARAM_ERROR", "message": "参数错误"}
            # name: a merchant's full name (必传 for MERCHANT_ID), a person's real name (选传,
            # checked), encrypted with the platform certificate's key (RSAES-OAEP).
            name = None
            if data.get("name"):
                try:
                    name = self.platform_key.decrypt(base64.b64decode(data["name"]), padding.OAEP(
                        mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)).decode()
                except ValueError:
                    return 400, {"code": "PARAM_ERROR", "message": "name 解密失败"}
            if data["type"] == "MERCHANT_ID" and not name:
                return 400, {"code": "PARAM_ERROR", "message": "分账接收方类型为MERCHANT_ID时，name必填"}
            self.split_receivers.add(data["account"])
            self.receiver_names[data["account"]] = name
            return 200, {"type": data["type"], "account": data["account"], "relation_type": data["relation_type"]}
        if method == "POST" and split.path == "/v3/profitsharing/orders":
            trade = next((t for t in self.transactions.values() if t.get("transaction_id") == data.get("transaction_id")),
                         None)
            if trade is None or trade["trade_state"] not in ("SUCCESS", "REFUND"):
                return 400, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"}
            if not trade.get("profit_sharing"):
                return 400, {"code": "INVALID_REQUEST", "message": "该笔订单不支持分账"}
            receivers = data.get("receivers") or []
            if any(r.get("account") not in self.split_receivers for r in receivers):
                return 400, {"code": "INVALID_REQUEST", "message": "分账接收方不存在"}
            if sum(r.get("amount", 0) for r in receivers) > trade["total"]:
                return 400, {"code": "NOT_ENOUGH", "message": "分账金额不足"}
            if data.get("unfreeze_unsplit") is not True or any(
                    not isinstance(r.get("amount"), int) or r["amount"] <= 0 or not r.get("description")
                    for r in receivers):
                return 400, {"code": "PARAM_ERROR", "message": "参数错误"}
            with self.lock:
                processing = self.split_processing
                found = self.splits.setdefault(data["out_order_no"], {
                    "transaction_id": trade["transaction_id"], "out_order_no": data["out_order_no"],
                    "order_id": "3008450740201411110007820472" + secrets.token_hex(2),
                    "state": "PROCESSING" if processing else "FINISHED",
                    "receivers": [{"amount": r["amount"], "description": r.get("description", ""), "type": r["type"],
                                   "account": r["account"],
                                   "result": "PENDING" if processing else (
                                       "CLOSED" if r["account"] in self.abnormal_receivers else "SUCCESS"),
                                   "fail_reason": "ACCOUNT_ABNORMAL" if r["account"] in self.abnormal_receivers
                                   and not processing else None,
                                   "detail_id": "36011111111111111111111"} for r in receivers]})
            return 200, {k: v for k, v in found.items()}
        if method == "POST" and split.path == "/v3/profitsharing/orders/unfreeze":
            trade = next((t for t in self.transactions.values() if t.get("transaction_id") == data.get("transaction_id")),
                         None)
            if trade is None or not trade.get("profit_sharing") or not data.get("out_order_no") \
                    or not data.get("description"):
                return 400, {"code": "INVALID_REQUEST", "message": "该笔订单不支持解冻"}
            with self.lock:
                trade["unfrozen"] = True
                found = self.splits.setdefault(data["out_order_no"], {
                    "transaction_id": trade["transaction_id"], "out_order_no": data["out_order_no"],
                    "order_id": "3008450740201411110007820473" + secrets.token_hex(2), "state": "FINISHED",
                    "receivers": []})
            return 200, found
        if method == "POST" and split.path == "/v3/profitsharing/return-orders":
            return self._return_order(data)
        if method == "GET" and split.path.startswith("/v3/profitsharing/return-orders/"):
            found = self.split_returns.get(split.path.rsplit("/", 1)[1])
            return (200, found) if found else (404, {"code": "RESOURCE_NOT_EXISTS", "message": "记录不存在"})
        if method == "GET" and split.path.startswith("/v3/profitsharing/orders/"):
            # 查询分账结果: the transaction_id query parameter is required and must be the split's.
            transaction_id = parse_qs(split.query).get("transaction_id", [""])[0]
            if not transaction_id:
                return 400, {"code": "PARAM_ERROR", "message": "缺少 transaction_id"}
            found = self.splits.get(split.path.rsplit("/", 1)[1])
            if found is None or found["transaction_id"] != transaction_id:
                return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "记录不存在"}
            return 200, found
        if method == "GET" and split.path == "/v3/bill/tradebill":
            query = parse_qs(split.query)
            original = self.trade_bill(query["bill_date"][0]).encode("utf-8")
            token = secrets.token_hex(8)
            self.bill_files[token] = gzip.compress(original + (b"`tampered\n" if self.bill_tampered else b""))
            # The hash is the original file's ("原始账单（gzip需要解压缩）的摘要值"), not the gzip's.
            return 200, {"hash_type": "SHA1", "hash_value": hashlib.sha1(original).hexdigest(),
                         "download_url": f"https://api.mch.weixin.qq.com/v3/billdownload/file?token={token}"}
        if method == "GET" and split.path == "/v3/billdownload/file":
            return 200, self.bill_files.pop(parse_qs(split.query)["token"][0], b"")
        if method == "POST" and split.path == "/v3/fund-app/mch-transfer/transfer-bills":
            amount = data.get("transfer_amount")
            if data.get("appid") != self.appid or not data.get("openid") or not data.get("transfer_scene_id") \
                    or not isinstance(amount, int) or amount <= 0 or not data.get("transfer_remark") \
                    or not data.get("notify_url"):
                return 400, {"code": "PARAM_ERROR", "message": "参数错误"}
            # 佣金报酬 (1005) must report 岗位类型 and 报酬说明; user_name is required from ¥2,000 and
            # not allowed under ¥0.30; the remark is at most 32 characters.
            reported = {i.get("info_type") for i in data.get("transfer_scene_report_infos") or [] if i.get("info_content")}
            if (data["transfer_scene_id"] == "1005" and not {"岗位类型", "报酬说明"} <= reported) \
                    or len(data["transfer_remark"]) > 32 or (amount >= 200000 and not data.get("user_name")) \
                    or (amount < 30 and data.get("user_name")):
                return 400, {"code": "PARAM_ERROR", "message": "参数错误"}
            name = None
            if data.get("user_name"):  # encrypted with the platform certificate's key
                name = self.platform_key.decrypt(base64.b64decode(data["user_name"]), padding.OAEP(
                    mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)).decode()
            with self.lock:
                bill = self.transfers.setdefault(data["out_bill_no"], {
                    "out_bill_no": data["out_bill_no"], "transfer_bill_no": "1330" + secrets.token_hex(16),
                    "transfer_amount": amount, "openid": data["openid"], "user_name": name,
                    "notify_url": data["notify_url"],
                    "state": "WAIT_USER_CONFIRM", "create_time": beijing("%Y-%m-%dT%H:%M:%S+08:00"),
                    "package_info": base64.b64encode(secrets.token_bytes(48)).decode()})
            answer = {"out_bill_no": bill["out_bill_no"], "transfer_bill_no": bill["transfer_bill_no"],
                      "create_time": bill["create_time"], "state": bill["state"]}
            if bill["state"] == "WAIT_USER_CONFIRM":  # only then: what the payee's confirm page needs
                answer["package_info"] = bill["package_info"]
            return 200, answer
        if method == "POST" and split.path.startswith("/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/") \
                and split.path.endswith("/cancel"):
            # 撤销转账: accepted only before the payee confirms; answered CANCELING (``cancel_done``
            # finishes it as CANCELLED); asked again, the same answer, never a second cancel.
            with self.lock:
                bill = self.transfers.get(split.path.rsplit("/", 2)[1])
                if bill is None:
                    return 404, {"code": "NOT_FOUND", "message": "记录不存在"}
                if bill["state"] in ("ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "TRANSFERING"):
                    bill["state"], bill["package_info"] = "CANCELING", None
                    self.cancels.append(bill["out_bill_no"])
                elif bill["state"] not in ("CANCELING", "CANCELLED"):
                    return 400, {"code": "INVALID_REQUEST", "message": "当前单据状态不支持撤销"}
                return 200, {"out_bill_no": bill["out_bill_no"], "transfer_bill_no": bill["transfer_bill_no"],
                             "state": bill["state"], "update_time": beijing("%Y-%m-%dT%H:%M:%S+08:00")}
        if method == "GET" and split.path.startswith("/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/"):
            bill = self.transfers.get(split.path.rsplit("/", 1)[1])
            if bill is None:
                return 404, {"code": "NOT_FOUND", "message": "记录不存在"}
            return 200, self._bill_view(bill)
        return 404, {"code": "NOT_FOUND", "message": "no such API in the stand-in"}

    BILL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
                   "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
                   "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")

    def trade_bill(self, day: str) -> str:
        """交易账单 (ALL) as WeChat Pay writes it: every field prefixed with a backquote, the
        totals after the rows. A payment is listed on the day it was paid (SUCCESS); a
        refund on the day WeChat accepted it (REFUND, "退款发起成功就会出账"), with the state
        it had then. A payment row's 应结订单金额 leaves out a merchant-funded coupon
        (``coupon`` fen on the transaction), its refund fields are 0; a refund row's order
        amounts are 0.00, 申请退款金额 is what was asked for and 退款金额 that less the
        coupon's share (``coupon_refund``). ``extra_bill_rows`` adds (kind, reference,
        fen) rows distweb never saw."""
        def yuan(fen):
            return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"

        def fee(fen):  # 0.6%, to five decimals as the bill writes fees
            return f"{fen * 6 / 100000:.5f}"

        def payment_row(trade, at):
            coupon = trade.get("coupon", 0)
            return [at, self.appid, self.mchid, "0", "", trade.get("transaction_id", ""), trade["out_trade_no"],
                    "oUser", trade["trade_type"], "SUCCESS", "OTHERS", "CNY", yuan(trade["total"] - coupon),
                    yuan(coupon), "0", "0", "0.00", "0.00", "", "", "明前龙井", "", fee(trade["total"] - coupon),
                    "0.60%", yuan(trade["total"]), "0.00", ""]

        def refund_row(trade, refund, at):
            settled = refund["refund"] - refund.get("coupon_refund", 0)
            return [at, self.appid, self.mchid, "0", "", trade.get("transaction_id", ""), trade["out_trade_no"],
                    "oUser", trade["trade_type"], "REFUND", "OTHERS", "CNY", "0.00", "0.00", refund["refund_id"],
                    refund["out_refund_no"], yuan(settled), "0.00", "ORIGINAL", refund["status"], "明前龙井", "",
                    "-" + fee(settled), "0.60%", "0.00", yuan(refund["refund"]), ""]

        rows = []
        for trade in self.transactions.values():
            if trade.get("success_time", "").startswith(day):
                rows.append(payment_row(trade, trade["success_time"][:19].replace("T", " ")))
        for refund in self.refunds.values():
            if refund.get("create_time", "").startswith(day):
                rows.append(refund_row(self.transactions[refund["out_trade_no"]], refund, refund["create_time"]))
        for kind, reference, fen in self.extra_bill_rows:
            fake = {"out_trade_no": reference if kind == "payment" else "X", "transaction_id": "4200extra",
                    "total": fen, "trade_type": "NATIVE"}
            if kind == "payment":
                rows.append(payment_row(fake, f"{day} 12:00:00"))
            else:
                rows.append(refund_row(fake, {"out_refund_no": reference, "refund_id": "5030extra", "refund": fen,
                                              "status": "SUCCESS"}, f"{day} 12:00:00"))
        lines = [self.BILL_HEADER] + [",".join("`" + f for f in fields) for fields in rows]
        paid = [r for r in rows if r[9] == "SUCCESS"]
        refunded = [r for r in rows if r[9] == "REFUND"]

        def total(found, column):
            return yuan(sum(int(r[column].replace(".", "")) for r in found))

        lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
        lines.append(",".join("`" + f for f in (str(len(rows)), total(paid, 12), total(refunded, 16), "0.00",
                                               "0.00000", total(paid, 24), total(refunded, 25))))
        return "\n".join(lines) + "\n"

    def _bill_view(self, bill: dict) -> dict:
        view = {"mch_id": self.mchid, "out_bill_no": bill["out_bill_no"], "transfer_bill_no": bill["transfer_bill_no"],
                "appid": self.appid, "state": bill["state"], "transfer_amount": bill["transfer_amount"],
                "transfer_remark": "佣金提现", "openid": bill["openid"], "create_time": bill["create_time"],
                "update_time": beijing("%Y-%m-%dT%H:%M:%S+08:00")}
        if bill.get("fail_reason"):
            view["fail_reason"] = bill["fail_reason"]
        return view

    # ---------------------------------------------------------------- the H5 cashier (checkmweb)

    H5_PAGE = "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb"
    H5_PAY = "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/pay"

    def h5(self, method: str, url: str) -> tuple[int, dict, str]:
        """WeChat's H5 payment page (the ``h5_url`` the buyer's phone opens) as (status,
        headers, HTML): the order's description and amount and a 确认支付 button. Paying
        makes the transaction SUCCESS, posts its TRANSACTION.SUCCESS notification to the
        merchant's ``notify_url`` and goes back to the ``redirect_url`` the merchant appended
        to the h5_url. A browser test routes wx.tenpay.com here."""
        import html

        split = urlsplit(url)
        query = parse_qs(split.query)
        prepay = (query.get("prepay_id") or [""])[0]
        with self.lock:
            trade = next((t for t in self.transactions.values() if t.get("prepay_id") == prepay and prepay), None)
        if trade is None or trade["trade_type"] != "H5":
            return 200, {}, "<!doctype html><meta charset=utf-8><title>微信支付</title><h1>商家参数格式有误，请联系商家解决</h1>"
        back = (query.get("redirect_url") or [""])[0]
        if method == "POST" and split.path.endswith("/pay"):
            if trade["trade_state"] == "NOTPAY":
                headers, body = self.pay(trade["out_trade_no"])
                requests.post(trade["notify_url"], data=body, headers=headers, timeout=10)
            if back:
                return 302, {"Location": back}, ""
            return 200, {}, "<!doctype html><meta charset=utf-8><title>微信支付</title><h1>支付成功</h1>"
        target = f"{self.H5_PAY}?{urlencode({'prepay_id': prepay, 'redirect_url': back})}"
        fen = trade["total"]
        return 200, {}, (f"<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
                         f"<title>微信支付</title><h1>微信支付</h1><p>{html.escape(trade['description'])}</p>"
                         f"<p class=amount>¥{fen // 100}.{fen % 100:02d}</p>"
                         f"<form method=post action='{html.escape(target)}'><button>确认支付</button></form>")

    def oauth_code(self, openid: str) -> str:
        """What WeChat's authorize page (snsapi_base) hands back to the redirect_uri for the
        user with ``openid``: a one-time code the merchant exchanges for the openid."""
        code = "0" + secrets.token_hex(15)
        with self.lock:
            self.oauth_codes[code] = openid
        return code

    def authorize(self, url: str, openid: str) -> tuple[int, dict, str]:
        """open.weixin.qq.com/connect/oauth2/authorize for the WeChat user ``openid``:
        snsapi_base asks nothing and sends the browser back to ``redirect_uri`` with a
        one-time ``code`` and the merchant's ``state``; a wrong AppID or scope is refused."""
        query = parse_qs(urlsplit(url).query)
        if query.get("appid") != [self.appid] or query.get("scope") != ["snsapi_base"] \
                or query.get("response_type") != ["code"] or not query.get("redirect_uri"):
            return 200, {}, "<!doctype html><meta charset=utf-8><title>微信</title><h1>参数错误</h1>"
        back = query["redirect_uri"][0]
        target = back + ("&" if "?" in back else "?") + urlencode(
            {"code": self.oauth_code(openid), "state": (query.get("state") or [""])[0]})
        return 302, {"Location": target}, ""

    # ---------------------------------------------------------------- the official account's JS-SDK

    def _stable_token(self, method: str, data: dict | None):
        """POST /cgi-bin/stable_token: the AppID and AppSecret buy an access token (40125 for a
        wrong secret, 40013 for a wrong AppID)."""
        if method != "POST" or not data or data.get("grant_type") != "client_credential":
            return 200, {"errcode": 40002, "errmsg": "invalid grant_type"}
        if data.get("appid") != self.appid:
            return 200, {"errcode": 40013, "errmsg": "invalid appid"}
        if data.get("secret") != self.app_secret:
            return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}
        with self.lock:
            self.token_calls += 1
        return 200, {"access_token": self.access_token, "expires_in": 7200}

    def _jsapi_ticket(self, query: dict):
        """GET /cgi-bin/ticket/getticket?type=jsapi: the ticket pages' wx.config are signed with."""
        if query.get("access_token") != [self.access_token]:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        if query.get("type") != ["jsapi"]:
            return 200, {"errcode": 40097, "errmsg": "invalid args"}
        with self.lock:
            self.ticket_calls += 1
        return 200, {"errcode": 0, "errmsg": "ok", "ticket": self.jsapi_ticket, "expires_in": 7200}

    def bridge(self, name: str, params: dict, page_url: str, openid: str) -> dict:
        """What WeChat's client answers a page's ``WeixinJSBridge.invoke(name, params)`` inside
        the payee ``openid``'s WeChat. ``preVerifyJSAPI`` (the JS-SDK's wx.config) checks the
        signature over the ticket and the page's URL (without its fragment) and allows the
        listed APIs on that page; ``checkJsApi`` answers (as on Android, a JSON string) which
        of those the client has; ``requestMerchantTransfer`` works only on a verified page."""
        page = page_url.split("#", 1)[0]
        if name == "preVerifyJSAPI":
            expected = hashlib.sha1(f"jsapi_ticket={self.jsapi_ticket}&noncestr={params.get('verifyNonceStr')}"
                                    f"&timestamp={params.get('verifyTimestamp')}&url={page}".encode()).hexdigest()
            if params.get("verifyAppId") != self.appid or params.get("verifySignature") != expected:
                return {"err_msg": "config:invalid signature"}
            with self.lock:
                self.verified_pages[page] = set(params.get("verifyJsApiList") or [])
            return {"err_msg": "config:ok"}
        if name == "checkJsApi":
            return {"err_msg": "checkJsApi:ok", "checkResult": json.dumps(
                {api: api in ("requestMerchantTransfer", "checkJsApi") for api in params.get("jsApiList") or []})}
        if name == "getNetworkType":
            return {"err_msg": "network_type:wifi", "networkType": "wifi"}
        if name == "requestMerchantTransfer":
            with self.lock:
                allowed = "requestMerchantTransfer" in self.verified_pages.get(page, set())
            if not allowed:
                return {"err_msg": "requestMerchantTransfer:fail_no permission to execute"}
            return self.request_merchant_transfer(params, openid)
        return {"err_msg": f"{name}:fail"}

    def request_merchant_transfer(self, params: dict, openid: str) -> dict:
        """What WeChat's client does for ``WeixinJSBridge.invoke("requestMerchantTransfer",
        params)`` in the payee ``openid``'s WeChat: the merchant and AppID must be the bill's,
        the payee confirms, the bill succeeds and its notification goes to the merchant's
        notify_url. The answer only says the page was shown (``err_msg``)."""
        if params.get("mchId") != self.mchid or params.get("appId") != self.appid:
            return {"err_msg": "requestMerchantTransfer:fail"}
        with self.lock:
            bill = next((b for b in self.transfers.values() if b.get("package_info") == params.get("package")), None)
        notice = self.confirm_transfer(params.get("package") or "", openid)
        if notice is None:
            return {"err_msg": "requestMerchantTransfer:fail"}
        headers, body = notice
        requests.post(bill["notify_url"], data=body, headers=headers, timeout=10)
        return {"err_msg": "requestMerchantTransfer:ok"}

    def confirm_transfer(self, package: str, openid: str):
        """The payee confirms on WeChat's page that ``requestMerchantTransfer`` opened with
        ``package``: only the bill's own payee, only while it waits; the bill succeeds and
        its notification is returned. Anything else: None (WeChat shows an error)."""
        with self.lock:
            bill = next((b for b in self.transfers.values() if b.get("package_info") == package), None)
            if bill is None or bill["state"] != "WAIT_USER_CONFIRM" or bill["openid"] != openid:
                return None
        return self.transfer_done(bill["out_bill_no"])

    def transfer_done(self, out_bill_no: str, state: str = "SUCCESS", fail_reason: str | None = None):
        """The payee confirmed (or the transfer failed): the bill's final state and its
        MCHTRANSFER.BILL.FINISHED notification."""
        with self.lock:
            bill = self.transfers[out_bill_no]
            bill["state"] = state
            bill["package_info"] = None
            if fail_reason:
                bill["fail_reason"] = fail_reason
        return self.notification("MCHTRANSFER.BILL.FINISHED", self._bill_view(bill))

    def cancel_done(self, out_bill_no: str):
        """WeChat finishes a cancel it accepted: CANCELLED, and its MCHTRANSFER.BILL.FINISHED
        notification (returned, for the test to deliver or lose)."""
        with self.lock:
            assert self.transfers[out_bill_no]["state"] == "CANCELING"
        return self.transfer_done(out_bill_no, "CANCELLED")

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def finish(self):
                super().finish()
                if isinstance(self.connection, ssl.SSLSocket):  # the tunnel's TLS socket is ours to close
                    self.connection.close()

            def do_CONNECT(self):
                host = self.path.split(":")[0]
                if host not in HOSTS:
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200, "Connection Established")
                self.end_headers()
                self.connection = stand_in.tls.wrap_socket(self.connection, server_side=True)
                self.rfile = self.connection.makefile("rb")
                self.wfile = self.connection.makefile("wb")
                self.close_connection = False

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                status, payload = stand_in.answer(self.headers.get("Host", ""), self.command, self.path, body,
                                                  self.headers.get("Authorization"))
                if stand_in.delay:
                    time.sleep(stand_in.delay)
                binary = isinstance(payload, bytes)
                text = "" if payload is None or binary else json.dumps(payload)
                stamp, nonce = str(int(time.time())), secrets.token_hex(16)
                raw = payload if binary else text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if binary else "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-ID", str(uuid.uuid4()))
                self.send_header("Wechatpay-Timestamp", stamp)
                self.send_header("Wechatpay-Nonce", nonce)
                self.send_header("Wechatpay-Serial", stand_in.platform_serial)
                self.send_header("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
                self.send_header("Wechatpay-Signature", _sign(stand_in.platform_key, f"{stamp}\n{nonce}\n{text}\n"))
                try:
                    self.end_headers()
                    self.wfile.write(raw)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    self.close_connection = True  # the client gave up waiting (a timeout test)

            do_GET = do_POST = _serve

        return Handler
