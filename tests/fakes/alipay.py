"""A stand-in for Alipay's open-platform gateway on loopback (``server_url`` of the official
SDK points here).

From Alipay's documentation:
- requests carry the common parameters (app_id, method, charset, sign_type RSA2,
  timestamp, version, biz_content …) and ``sign``: RSA2 (SHA256withRSA) over every other
  parameter, sorted and joined ``k=v&…``, checked with the app's public key;
- ``GET /gateway.do`` for 手机网站支付 (``alipay.trade.wap.pay``) and 电脑网站支付
  (``alipay.trade.page.pay``) shows a cashier page with a 付款 button (``POST /cashier/<no>``
  pays and posts the notification to the ``notify_url``, for browser tests);
- ``POST /gateway.do`` for ``alipay.trade.query``, ``.close``, ``.refund`` (with 退分账
  ``refund_royalty_parameters``: never more than each receiver was settled),
  ``alipay.trade.royalty.relation.bind``, ``alipay.trade.order.settle`` (to bound
  receivers only) and its query ``alipay.trade.order.settle.query`` (by out_request_no
  and trade_no: each receiver's ``transfer`` detail in ``royalty_detail_list``, state
  SUCCESS, or FAIL for a receiver in ``failing_receivers`` when it was settled;
  ACQ.TRADE_NOT_EXIST for a settle it never made): the answer is
  ``{"<method>_response": {…}, "sign": "…"}``, the sign over the exact text of the response
  object, with Alipay's private key;
- notifications (``trade_status_sync``) are form posts signed over every parameter but
  ``sign`` and ``sign_type``; returned to the test as a form body to post to distweb.

Faults: ``fail_next(sub_code, sub_msg)`` answers the next server call with a business
error; ``delay`` holds every answer that many seconds; ``stall_next(method, reached)``
holds the next call of ``method`` ``stall`` seconds (past the client's timeout), carried
out first when ``reached`` (the answer lost) or not at all (the request lost).
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.fakes.keys import private_pem, public_pem, rsa_key


def beijing(fmt: str) -> str:
    """Now in Beijing time (the providers' clock), as ``fmt``."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime(fmt)


def _sign(key, content: str) -> str:
    return base64.b64encode(key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def sign_content(params: dict) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if params[k] not in (None, ""))


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _fen(text: str) -> int:
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


class AlipayStandIn:
    def __init__(self, app_id="2021000000000001"):
        self.app_id = app_id
        self.app_key = rsa_key("alipay-app")
        self.alipay_key = rsa_key("alipay-platform")
        self.trades: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.transfers: dict[str, dict] = {}
        self.unknown_payees: set[str] = set()
        self.bill_files: dict[str, bytes] = {}
        self.settles: dict[str, dict] = {}
        self.bound: set[str] = set()  # receivers bound by royalty.relation.bind
        # Receivers a settle accepts but cannot pay: their query detail says FAIL.
        self.failing_receivers: set[str] = set()
        self.royalty_returns: dict[str, dict] = {}  # 退分账 by refund out_request_no
        self.extra_bill_rows: list[tuple[str, str, int]] = []
        self.cert_sns: tuple[str, str] | None = None  # (app_cert_sn, alipay_root_cert_sn) once certificates are used
        self.calls: list[tuple[str, dict]] = []
        self.failures: list[tuple[str, str]] = []
        self.delay = 0.0
        self.stalls: list[tuple[str, bool]] = []
        self.stall = 1.5
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/gateway.do"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, sub_code: str, sub_msg: str) -> None:
        self.failures.append((sub_code, sub_msg))

    def stall_next(self, method: str, reached: bool) -> None:
        self.stalls.append((method, reached))

    def settings(self) -> tuple[dict, dict]:
        return ({"app_id": self.app_id, "gateway": self.gateway},
                {"app_private_key": private_pem(self.app_key), "alipay_public_key": public_pem(self.alipay_key)})

    def certificates(self) -> dict:
        """公钥证书模式: the app's public certificate (issued by a stand-in Ant CA) and a
        root chain with an RSA root and an EC root (Alipay's chain has an SM2 one, which
        the SN leaves out); the stand-in expects the SNs from here on."""
        import datetime as dt
        import hashlib

        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        def name(cn):
            return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                              x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ant Financial"),
                              x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Certification Authority"),
                              x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def cert(subject, issuer, public, signer, serial):
            now = dt.datetime.now(dt.UTC)
            return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
                    .serial_number(serial).not_valid_before(now - dt.timedelta(days=1))
                    .not_valid_after(now + dt.timedelta(days=365)).sign(signer, hashes.SHA256()))

        root_key, ec_key = rsa_key("alipay-root"), ec.generate_private_key(ec.SECP256R1())
        rsa_root = cert(name("Ant Financial Certification Authority R1"),
                        name("Ant Financial Certification Authority R1"), root_key.public_key(), root_key, 88001)
        ec_root = cert(name("Ant Financial Certification Authority E1"),
                       name("Ant Financial Certification Authority E1"), ec_key.public_key(), ec_key, 88002)
        app = cert(name(self.app_id), name("Ant Financial Certification Authority Class 1 R1"),
                   self.app_key.public_key(), root_key, 4105060923458741)

        def sn(c):
            text = "CN={},OU={},O={},C={}".format(*(c.issuer.get_attributes_for_oid(oid)[0].value for oid in (
                NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATION_NAME, NameOID.COUNTRY_NAME)))
            return hashlib.md5((text + str(c.serial_number)).encode()).hexdigest()

        self.cert_sns = (sn(app), sn(rsa_root))
        pem = serialization.Encoding.PEM
        return {"app_public_cert": app.public_bytes(pem).decode(),
                "alipay_root_cert": (ec_root.public_bytes(pem) + rsa_root.public_bytes(pem)).decode()}

    # ---------------------------------------------------------------- notifications

    def notification(self, params: dict, *, sign_key=None) -> bytes:
        signed = {k: v for k, v in params.items() if v is not None}
        signed["sign"] = _sign(sign_key or self.alipay_key, sign_content(signed))
        signed["sign_type"] = "RSA2"
        return urlencode(signed).encode()

    def pay(self, out_trade_no: str, **kwargs) -> bytes:
        with self.lock:
            trade = self.trades[out_trade_no]
            trade["status"] = "TRADE_SUCCESS"
            trade.setdefault("trade_no", beijing("%Y%m%d") + "2200" + secrets.token_hex(8))
            trade["gmt_payment"] = beijing("%Y-%m-%d %H:%M:%S")
        return self.notification(self._notice_params(trade), **kwargs)

    def _notice_params(self, trade: dict) -> dict:
        return {"notify_time": beijing("%Y-%m-%d %H:%M:%S"), "notify_type": "trade_status_sync",
                "notify_id": secrets.token_hex(16), "charset": "utf-8", "version": "1.0",
                "app_id": self.app_id, "trade_no": trade["trade_no"], "out_trade_no": trade["out_trade_no"],
                "trade_status": trade["status"], "total_amount": _yuan(trade["total"]),
                "receipt_amount": _yuan(trade["total"]), "buyer_pay_amount": _yuan(trade["total"]),
                "subject": trade["subject"], "gmt_create": trade["gmt_create"], "gmt_payment": trade.get("gmt_payment"),
                "seller_id": "2088101117955611", "buyer_id": "2088102177846880"}

    # ---------------------------------------------------------------- the gateway

    def _verified(self, params: dict) -> bool:
        sign = params.get("sign")
        if not sign or params.get("sign_type") != "RSA2" or params.get("app_id") != self.app_id:
            return False
        content = sign_content({k: v for k, v in params.items() if k != "sign"})
        try:
            self.app_key.public_key().verify(base64.b64decode(sign), content.encode(), padding.PKCS1v15(),
                                             hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True

    def respond(self, method: str, inner: dict) -> str:
        key = method.replace(".", "_") + "_response"
        text = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
        return '{"' + key + '":' + text + ',"sign":"' + _sign(self.alipay_key, text) + '"}'

    def page(self, params: dict) -> tuple[int, str]:
        if not self._verified(params):
            return 400, "<p>验签出错</p>"
        biz = json.loads(params.get("biz_content") or "{}")
        if params.get("method") not in ("alipay.trade.wap.pay", "alipay.trade.page.pay"):
            return 400, "<p>不支持的接口</p>"
        with self.lock:
            number = biz["out_trade_no"]
            known = self.trades.get(number)
            if known is None:
                known = self.trades[number] = {
                    "out_trade_no": number, "total": _fen(biz["total_amount"]), "subject": biz.get("subject", ""),
                    "status": "WAIT_BUYER_PAY", "notify_url": params.get("notify_url"),
                    "return_url": params.get("return_url"), "gmt_create": beijing("%Y-%m-%d %H:%M:%S")}
        self.calls.append((params["method"], biz))
        return 200, (f"<!doctype html><meta charset=utf-8><title>支付宝收银台（测试）</title>"
                     f"<h1>支付宝收银台</h1><p class=amount>¥{html.escape(_yuan(known['total']))}</p>"
                     f"<form method=post action=/cashier/{html.escape(number)}><button>确认付款</button></form>")

    def cashier_pay(self, number: str) -> tuple[int, str]:
        """The buyer pays on the cashier page: the notification goes to the notify_url."""
        body = self.pay(number)
        trade = self.trades[number]
        try:
            requests.post(trade["notify_url"], data=body, timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        except requests.RequestException:
            pass
        target = trade.get("return_url") or "/"
        return 303, target

    def server_call(self, params: dict) -> str:
        method = params.get("method", "")
        if not self._verified(params):
            return '{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature",' \
                   '"sub_msg":"验签出错"},"sign":""}'
        biz = json.loads(params.get("biz_content") or "{}")
        self.calls.append((method, biz))
        if self.stalls and self.stalls[0][0] == method:
            _, reached = self.stalls.pop(0)
            answer = self._server_call(method, params, biz) if reached else self.respond(method, {
                "code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error",
                "sub_msg": "系统繁忙"})
            time.sleep(self.stall)
            return answer
        return self._server_call(method, params, biz)

    def _server_call(self, method: str, params: dict, biz: dict) -> str:
        if self.failures:
            sub_code, sub_msg = self.failures.pop(0)
            return self.respond(method, {"code": "40004", "msg": "Business Failed", "sub_code": sub_code,
                                         "sub_msg": sub_msg})
        if method.startswith("alipay.fund.trans."):
            return self.transfer_call(method, params, biz)
        if method == "alipay.trade.royalty.relation.bind":
            receivers = biz.get("receiver_list") or []
            # name: the receiver's real name, 必传 for a loginName (checked if given for a userId).
            if not biz.get("out_request_no") or not receivers or any(
                    r.get("type") not in ("loginName", "userId") or not r.get("account")
                    or (r["type"] == "loginName" and not r.get("name")) for r in receivers):
                return self.respond(method, {"code": "40004", "msg": "Business Failed", "sub_code": "INVALID_PARAMETER",
                                             "sub_msg": "参数有误"})
            if any(r["account"] in self.unknown_payees for r in receivers):
                return self.respond(method, {"code": "40004", "msg": "Business Failed",
                                             "sub_code": "ACQ.TRANS_IN_NOT_EXIST", "sub_msg": "分账收入方账户不存在"})
            with self.lock:
                self.bound |= {r["account"] for r in receivers}
            return self.respond(method, {"code": "10000", "msg": "Success", "result_code": "SUCCESS"})
        if method == "alipay.trade.order.settle":
            trade = next((t for t in self.trades.values() if t.get("trade_no") == biz.get("trade_no")), None)
            if trade is None:
                return self.respond(method, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST",
                                             "sub_msg": "交易不存在"})
            parts = biz.get("royalty_parameters") or []
            if any(p.get("trans_in") in self.unknown_payees for p in parts):
                return self.respond(method, {"code": "40004", "msg": "Business Failed",
                                             "sub_code": "ACQ.TRANS_IN_NOT_EXIST", "sub_msg": "分账收入方账户不存在"})
            if any(p.get("trans_in_type") not in ("loginName", "userId") or p.get("trans_in") not in self.bound
                   for p in parts):
                return self.respond(method, {"code": "40004", "msg": "Business Failed",
                                             "sub_code": "ACQ.ROYALTY_RECEIVER_NOT_BIND", "sub_msg": "分账关系未绑定"})
            with self.lock:
                settled = self.settles.setdefault(biz["out_request_no"], {
                    "trade_no": trade["trade_no"], "settle_no": "2026" + secrets.token_hex(10),
                    "at": beijing("%Y-%m-%d %H:%M:%S"),
                    "parts": [(p["trans_in"], _fen(p["amount"])) for p in parts],
                    "failed": {p["trans_in"] for p in parts if p["trans_in"] in self.failing_receivers}})
            return self.respond(method, {"code": "10000", "msg": "Success", "trade_no": settled["trade_no"],
                                         "settle_no": settled["settle_no"]})
        if method == "alipay.trade.order.settle.query":
            settled = self.settles.get(biz.get("out_request_no") or "")
            if settled is None or settled["trade_no"] != biz.get("trade_no"):
                return self.respond(method, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST",
                                             "sub_msg": "交易不存在"})
            return self.respond(method, {
                "code": "10000", "msg": "Success", "out_request_no": biz["out_request_no"],
                "operation_dt": settled["at"], "royalty_detail_list": [
                    {"operation_type": "transfer", "execute_dt": settled["at"], "trans_in": account,
                     "trans_in_type": "userId" if account.startswith("2088") else "loginName",
                     "amount": _yuan(fen), "detail_id": f"{settled['settle_no']}{n:02d}",
                     **({"state": "FAIL", "error_code": "TXN_RESULT_ACCOUNT_STATUS_NOT_VALID",
                         "error_desc": "分账收款方账户状态异常"} if account in settled["failed"] else {"state": "SUCCESS"})}
                    for n, (account, fen) in enumerate(settled["parts"], start=1)]})
        if method == "alipay.data.dataservice.bill.downloadurl.query":
            token = secrets.token_hex(8)
            self.bill_files[token] = self.bill_zip(biz["bill_date"])
            url = self.gateway.replace("/gateway.do", f"/bills/{token}.zip")
            return self.respond(method, {"code": "10000", "msg": "Success", "bill_download_url": url})
        trade = self.trades.get(biz.get("out_trade_no") or "")
        if trade is None:
            return self.respond(method, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST",
                                         "sub_msg": "交易不存在"})
        base = {"code": "10000", "msg": "Success", "out_trade_no": trade["out_trade_no"]}
        if method == "alipay.trade.query":
            inner = {**base, "trade_status": trade["status"], "total_amount": _yuan(trade["total"])}
            if trade.get("trade_no"):
                inner.update(trade_no=trade["trade_no"], send_pay_date=trade.get("gmt_payment"))
            return self.respond(method, inner)
        if method == "alipay.trade.close":
            if trade["status"] != "WAIT_BUYER_PAY":
                return self.respond(method, {"code": "40004", "msg": "Business Failed",
                                             "sub_code": "ACQ.TRADE_STATUS_ERROR", "sub_msg": "交易状态不合法"})
            trade["status"] = "TRADE_CLOSED"
            return self.respond(method, base)
        if method == "alipay.trade.refund":
            if trade["status"] != "TRADE_SUCCESS":
                return self.respond(method, {"code": "40004", "msg": "Business Failed",
                                             "sub_code": "ACQ.TRADE_STATUS_ERROR", "sub_msg": "交易状态不合法"})
            amount = _fen(biz["refund_amount"])
            back = biz.get("refund_royalty_parameters") or []
            with self.lock:
                received = {}
                for settled in self.settles.values():
                    if settled["trade_no"] == trade.get("trade_no"):
                        for account, fen in settled["parts"]:
                            received[account] = received.get(account, 0) + fen
                for number, earlier in self.royalty_returns.items():
                    if number != biz["out_request_no"] and earlier["trade_no"] == trade.get("trade_no"):
                        for account, fen in earlier["parts"]:
                            received[account] = received.get(account, 0) - fen
                if any(p.get("royalty_type") != "transfer" or p.get("trans_out_type") not in ("loginName", "userId")
                       or _fen(p["amount"]) > received.get(p.get("trans_out"), 0) for p in back):
                    return self.respond(method, {"code": "40004", "msg": "Business Failed",
                                                 "sub_code": "ACQ.REFUND_ROYALTY_AMOUNT_INVALID",
                                                 "sub_msg": "退分账金额超过已分账金额"})
                if back:
                    self.royalty_returns[biz["out_request_no"]] = {
                        "trade_no": trade["trade_no"], "parts": [(p["trans_out"], _fen(p["amount"])) for p in back]}
                repeat = biz["out_request_no"] in self.refunds
                done = sum(r["amount"] for n, r in self.refunds.items() if n != biz["out_request_no"]
                           and r["out_trade_no"] == trade["out_trade_no"])
                if not repeat and done + amount > trade["total"]:
                    return self.respond(method, {"code": "40004", "msg": "Business Failed",
                                                 "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                                                 "sub_msg": "退款金额超限"})
                self.refunds[biz["out_request_no"]] = {"out_trade_no": trade["out_trade_no"], "amount": amount,
                                                       "date": beijing("%Y-%m-%d %H:%M:%S")}
                refunded = done + amount
            return self.respond(method, {**base, "trade_no": trade["trade_no"], "buyer_logon_id": "159****5620",
                                         "fund_change": "N" if repeat else "Y", "refund_fee": _yuan(refunded),
                                         "gmt_refund_pay": beijing("%Y-%m-%d %H:%M:%S")})
        return self.respond(method, {"code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method",
                                     "sub_msg": "不存在的方法名"})

    def bill_zip(self, day: str) -> bytes:
        """The trade bill as Alipay publishes it: ``<pid>_<yyyymmdd>.csv.zip`` holding a GBK
        业务明细 CSV (``#`` lines around the rows) and its 汇总, the entries' names in GBK
        without the zip's UTF-8 flag (integrations open it with a GBK charset). Number-like
        cells end with a tab (so Excel keeps their digits); a 退款 row's 订单金额 and 商家实收
        are negative. ``extra_bill_rows`` adds (kind, reference, fen) rows."""
        import io
        import zipfile

        header = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
                  "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
                  "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注")

        def row(trade_no, out_trade_no, kind, subject, created, done, amount, batch, fee):
            return (f"{trade_no}\t,{out_trade_no}\t,{kind}\t,{subject},{created},{done},\t,\t,\t,\t,"
                    f"*明(139****1234)\t,{amount},{amount},0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,"
                    f"{batch}\t,{fee},0.00,{subject}")

        lines = ["#支付宝业务明细查询", "#账号：[20881234567890120156]",
                 f"#起始日期：[{day} 00:00:00]   终止日期：[{day} 23:59:59]",
                 "#-----------------------------------------业务明细列表----------------------------------------", header]
        for trade in self.trades.values():
            if trade["status"] in ("TRADE_SUCCESS", "TRADE_CLOSED") and (trade.get("gmt_payment") or "").startswith(day):
                lines.append(row(trade["trade_no"], trade["out_trade_no"], "交易", trade["subject"], trade["gmt_create"],
                                 trade["gmt_payment"], _yuan(trade["total"]), "", "-0.71"))
        for number, refund in self.refunds.items():
            trade = self.trades[refund["out_trade_no"]]
            if refund.get("date", "").startswith(day):
                lines.append(row(trade["trade_no"], trade["out_trade_no"], "退款", trade["subject"], trade["gmt_create"],
                                 refund["date"], "-" + _yuan(refund["amount"]), number, "0.00"))
        for kind, reference, fen in self.extra_bill_rows:
            at = f"{day} 12:00:00"
            if kind == "payment":
                lines.append(row("2026extra", reference, "交易", "茶", at, at, _yuan(fen), "", "0.00"))
            else:
                lines.append(row("2026extra", "X", "退款", "茶", at, at, "-" + _yuan(fen), reference, "0.00"))
        lines += ["#-----------------------------------------业务明细列表结束------------------------------------",
                  "#交易合计：0笔，商家实收共0.00元，商家优惠共0.00元", "#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元",
                  f"#导出时间：[{day} 23:59:59]"]
        stem = f"20881234567890120156_{day.replace('-', '')}"
        files = [(f"{stem}_业务明细.csv", "\r\n".join(lines)), (f"{stem}_业务明细(汇总).csv", "#支付宝业务汇总查询")]
        # zipfile writes a non-ASCII name as UTF-8 with the flag set; Alipay's are GBK bytes
        # with no flag, so each name is written as an ASCII stand-in of the same length and
        # its bytes swapped for the GBK ones (the name is in the local and central headers).
        buffer = io.BytesIO()
        swaps = []
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for n, (name, text) in enumerate(files):
                raw = name.encode("gbk")
                stand_in = (f"~{n}~" + "q" * len(raw))[:len(raw)].encode()
                swaps.append((stand_in, raw))
                archive.writestr(stand_in.decode(), text.encode("gbk"))
        content = buffer.getvalue()
        for stand_in, raw in swaps:
            assert content.count(stand_in) == 2
            content = content.replace(stand_in, raw)
        return content

    def transfer_call(self, method: str, params: dict, biz: dict) -> str:
        """单笔转账 and its query; 公钥证书模式: the request must name our certificates."""
        if self.cert_sns and (params.get("app_cert_sn"), params.get("alipay_root_cert_sn")) != self.cert_sns:
            return self.respond(method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.app-cert-sn-error",
                                         "sub_msg": "应用公钥证书序列号不匹配"})
        number = biz.get("out_biz_no") or ""
        if method == "alipay.fund.trans.common.query":
            found = self.transfers.get(number)
            if found is None:
                return self.respond(method, {"code": "40004", "msg": "Business Failed", "sub_code": "ORDER_NOT_EXIST",
                                             "sub_msg": "转账订单不存在"})
            return self.respond(method, {"code": "10000", "msg": "Success", **found})
        payee = biz.get("payee_info") or {}
        # payee_info.name: "当identity_type=ALIPAY_LOGON_ID时，本字段必填" (checked against the account).
        if biz.get("product_code") != "TRANS_ACCOUNT_NO_PWD" or biz.get("biz_scene") != "DIRECT_TRANSFER" \
                or payee.get("identity_type") != "ALIPAY_LOGON_ID" or not payee.get("name") \
                or not biz.get("order_title"):
            return self.respond(method, {"code": "40004", "msg": "Business Failed", "sub_code": "INVALID_PARAMETER",
                                         "sub_msg": "参数有误"})
        if _fen(biz.get("trans_amount") or "0") < 10:  # TRANS_ACCOUNT_NO_PWD: [0.1, 100000000] yuan
            return self.respond(method, {"code": "40004", "msg": "Business Failed",
                                         "sub_code": "EXCEED_LIMIT_SM_MIN_AMOUNT", "sub_msg": "单笔最低转账金额0.1元"})
        if payee.get("identity") in self.unknown_payees:
            return self.respond(method, {"code": "40004", "msg": "Business Failed", "sub_code": "PAYEE_NOT_EXIST",
                                         "sub_msg": "收款账号不存在或姓名有误"})
        with self.lock:
            found = self.transfers.setdefault(number, {
                "out_biz_no": number, "order_id": beijing("%Y%m%d") + "1100" + secrets.token_hex(8),
                "pay_fund_order_id": beijing("%Y%m%d") + "1101" + secrets.token_hex(8),
                "status": "SUCCESS", "trans_date": beijing("%Y-%m-%d %H:%M:%S"),
                "trans_amount": biz.get("trans_amount"), "payee": payee.get("identity"), "name": payee.get("name")})
        return self.respond(method, {"code": "10000", "msg": "Success", "out_biz_no": number,
                                     "order_id": found["order_id"], "pay_fund_order_id": found["pay_fund_order_id"],
                                     "status": found["status"], "trans_date": found["trans_date"]})

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, text: str, content_type: str, location: str | None = None):
                if stand_in.delay:
                    time.sleep(stand_in.delay)
                raw = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                if location:
                    self.send_header("Location", location)
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def do_GET(self):
                split = urlsplit(self.path)
                if split.path.startswith("/bills/"):
                    content = stand_in.bill_files.pop(split.path[len("/bills/"):-len(".zip")], None)
                    if content is None:
                        return self._send(404, "not found", "text/plain")
                    self.send_response(200)
                    self.send_header("Content-Type", "application/zip")
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                    return None
                if split.path != "/gateway.do":
                    return self._send(404, "not found", "text/plain")
                status, page = stand_in.page(dict(parse_qsl(split.query, keep_blank_values=True)))
                self._send(status, page, "text/html; charset=utf-8")

            def do_POST(self):
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                if split.path.startswith("/cashier/"):
                    status, target = stand_in.cashier_pay(split.path.rsplit("/", 1)[1])
                    return self._send(status, "", "text/plain", location=target)
                if split.path != "/gateway.do":
                    return self._send(404, "not found", "text/plain")
                params = dict(parse_qsl(body, keep_blank_values=True))
                params.update(dict(parse_qsl(split.query, keep_blank_values=True)))
                self._send(200, stand_in.server_call(params), "application/json;charset=utf-8")

        return Handler
