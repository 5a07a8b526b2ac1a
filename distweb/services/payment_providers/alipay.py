"""Alipay (支付宝) through the official ``alipay-sdk-python`` (PyPI, pinned).

Why this SDK and not ``python-alipay-sdk`` (fzlee/alipay): both sign RSA2 correctly and both
are alive, but only the official one lets distweb point it somewhere else through its public
API: ``AlipayClientConfig.server_url`` is a documented setting (production, the sandbox, or
the stand-in the tests run on loopback), while ``python-alipay-sdk`` keeps its gateway in a
private attribute chosen by a ``debug`` flag (production or sandbox only), so a stand-in
would need a private name or a process-wide HTTPS proxy. The official SDK also has a request
and model class for every API distweb uses or will use (手机网站支付 ``alipay.trade.wap.pay``,
电脑网站支付 ``alipay.trade.page.pay``, query, close, refund, 分账 ``alipay.trade.order.settle``
and ``royalty.relation.bind``, 单笔转账 ``alipay.fund.trans.uni.transfer``), kept in step with
Alipay's open platform by Alipay itself, and needs no compiled crypto beyond ``rsa`` and
``pycryptodome``. Its one flaw that matters here: ``DefaultAlipayClient.execute`` opens its
own ``http.client`` connection on port 80/443 whatever port ``server_url`` names, so for the
server-to-server calls distweb takes the SDK's signed parameters (``sdk_execute``, public)
and posts them itself with ``requests`` (with a timeout), then checks the answer's RSA2
signature with the SDK's ``verify_with_rsa``. Page payments use ``page_execute`` as is.

Notifications (``trade_status_sync``) are form posts: every parameter but ``sign`` and
``sign_type``, sorted and joined ``k=v&…``, RSA2-verified with the Alipay public key, and the
``app_id`` must be ours.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import requests
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayDataDataserviceBillDownloadurlQueryModel import (
    AlipayDataDataserviceBillDownloadurlQueryModel,
)
from alipay.aop.api.domain.AlipayFundTransCommonQueryModel import AlipayFundTransCommonQueryModel
from alipay.aop.api.domain.AlipayFundTransUniTransferModel import AlipayFundTransUniTransferModel
from alipay.aop.api.domain.AlipayTradeCloseModel import AlipayTradeCloseModel
from alipay.aop.api.domain.AlipayTradeOrderSettleModel import AlipayTradeOrderSettleModel
from alipay.aop.api.domain.AlipayTradeOrderSettleQueryModel import AlipayTradeOrderSettleQueryModel
from alipay.aop.api.domain.AlipayTradePagePayModel import AlipayTradePagePayModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.domain.AlipayTradeRoyaltyRelationBindModel import (
    AlipayTradeRoyaltyRelationBindModel,
)
from alipay.aop.api.domain.AlipayTradeWapPayModel import AlipayTradeWapPayModel
from alipay.aop.api.domain.OpenApiRoyaltyDetailInfoPojo import OpenApiRoyaltyDetailInfoPojo
from alipay.aop.api.domain.Participant import Participant
from alipay.aop.api.domain.RoyaltyEntity import RoyaltyEntity
from alipay.aop.api.request.AlipayDataDataserviceBillDownloadurlQueryRequest import (
    AlipayDataDataserviceBillDownloadurlQueryRequest,
)
from alipay.aop.api.request.AlipayFundTransCommonQueryRequest import (
    AlipayFundTransCommonQueryRequest,
)
from alipay.aop.api.request.AlipayFundTransUniTransferRequest import (
    AlipayFundTransUniTransferRequest,
)
from alipay.aop.api.request.AlipayTradeCloseRequest import AlipayTradeCloseRequest
from alipay.aop.api.request.AlipayTradeOrderSettleQueryRequest import (
    AlipayTradeOrderSettleQueryRequest,
)
from alipay.aop.api.request.AlipayTradeOrderSettleRequest import AlipayTradeOrderSettleRequest
from alipay.aop.api.request.AlipayTradePagePayRequest import AlipayTradePagePayRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest
from alipay.aop.api.request.AlipayTradeRoyaltyRelationBindRequest import (
    AlipayTradeRoyaltyRelationBindRequest,
)
from alipay.aop.api.request.AlipayTradeWapPayRequest import AlipayTradeWapPayRequest
from alipay.aop.api.util.SignatureUtils import get_sign_content, verify_with_rsa

from distweb.money import parse_yuan
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
    fen_to_yuan,
)

GATEWAY = "https://openapi.alipay.com/gateway.do"
REQUIRED = ("app_id", "app_private_key", "alipay_public_key")
TRADE_STATES = {"TRADE_SUCCESS": "paid", "TRADE_FINISHED": "paid", "WAIT_BUYER_PAY": "pending",
                "TRADE_CLOSED": "closed"}
ALIPAY_TIME = ZoneInfo("Asia/Shanghai")  # Alipay's times are Beijing time without an offset


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ALIPAY_TIME) if text else None
    except ValueError:
        return None


def _fen(text) -> int | None:
    try:
        return parse_yuan(str(text)) if text is not None else None
    except ValueError:
        return None


def _issuer_sn(cert) -> str:
    """Alipay's certificate SN: md5 of ``CN=…,OU=…,O=…,C=…`` of the issuer and the decimal
    serial number (as Alipay's SDKs compute it)."""
    import hashlib

    from cryptography.x509.oid import NameOID

    def part(oid):
        found = cert.issuer.get_attributes_for_oid(oid)
        return found[0].value if found else "None"

    name = (f"CN={part(NameOID.COMMON_NAME)},OU={part(NameOID.ORGANIZATIONAL_UNIT_NAME)},"
            f"O={part(NameOID.ORGANIZATION_NAME)},C={part(NameOID.COUNTRY_NAME)}")
    return hashlib.md5((name + str(cert.serial_number)).encode(), usedforsecurity=False).hexdigest()


def cert_sns(app_cert: str | None, root_chain: str | None) -> dict:
    """公钥证书模式: ``app_cert_sn`` of the app's public certificate and
    ``alipay_root_cert_sn`` (the RSA certificates of Alipay's root chain, joined by _)."""
    if not app_cert or not root_chain:
        return {}
    from cryptography import x509

    try:
        app = x509.load_pem_x509_certificate(app_cert.encode())
        roots = x509.load_pem_x509_certificates(root_chain.encode())
    except ValueError as err:
        raise ProviderError("config", "Alipay certificates unreadable") from err
    from cryptography.x509.oid import SignatureAlgorithmOID as Sig

    rsa_signed = {Sig.RSA_WITH_MD5, Sig.RSA_WITH_SHA1, Sig.RSA_WITH_SHA224, Sig.RSA_WITH_SHA256,
                  Sig.RSA_WITH_SHA384, Sig.RSA_WITH_SHA512}
    rsa_roots = [_issuer_sn(cert) for cert in roots if cert.signature_algorithm_oid in rsa_signed]
    return {"app_cert_sn": _issuer_sn(app), "alipay_root_cert_sn": "_".join(rsa_roots)}


def signed_part(raw: str, key: str) -> tuple[str, str | None]:
    """The exact text of the ``key`` object in an Alipay answer (what its ``sign`` covers)
    and the sign."""
    anchor = raw.find(f'"{key}"')
    if anchor < 0:
        raise ProviderError("provider_error", "unexpected answer from Alipay")
    start = raw.find("{", anchor)
    decoder = json.JSONDecoder()
    try:
        _, end = decoder.raw_decode(raw, start)
        whole = json.loads(raw)
    except ValueError:
        raise ProviderError("provider_error", "unreadable answer from Alipay") from None
    return raw[start:end], whole.get("sign")


class AlipayProvider(PaymentProvider):
    name = "alipay"
    online = True
    channels = ("wap", "page")

    def __init__(self, settings: dict, secret: dict, timeout: float, cache_key: tuple = ()):
        missing = [k for k in REQUIRED if not (settings.get(k) or secret.get(k))]
        if missing:
            raise ProviderError("config", "missing " + ", ".join(missing))
        self.settings, self.secret, self.timeout = settings, secret, timeout
        self.gateway = settings.get("gateway") or GATEWAY
        config = AlipayClientConfig()
        config.server_url = self.gateway
        config.app_id = settings["app_id"]
        config.app_private_key = secret["app_private_key"]
        config.alipay_public_key = secret["alipay_public_key"]
        config.sign_type = "RSA2"
        config.timeout = int(max(1, timeout))
        self.client = DefaultAlipayClient(alipay_client_config=config)
        self.sns = cert_sns(secret.get("app_public_cert"), secret.get("alipay_root_cert"))

    def channel_for(self, browser: str) -> str | None:
        return "page" if browser == "desktop" else "wap"

    def _certified(self, request):
        """公钥证书模式 (required by 单笔转账): every request names the certificates."""
        for name, value in self.sns.items():
            request.add_other_text_param(name, value)
        return request

    def _server(self, request, key: str) -> dict:
        self._certified(request)
        try:
            params = self.client.sdk_execute(request)
        except Exception as err:  # noqa: BLE001 — the SDK signs with our key: a bad key is config
            raise ProviderError("config", f"Alipay request not signed: {type(err).__name__}") from err
        try:
            response = requests.post(self.gateway, data=params.encode("utf-8"), timeout=self.timeout, headers={
                "Content-Type": "application/x-www-form-urlencoded;charset=utf-8"})
        except requests.Timeout as err:
            raise ProviderError("timeout", "no answer from Alipay") from err
        except requests.RequestException as err:
            raise ProviderError("provider_error", f"Alipay unreachable: {type(err).__name__}") from err
        if response.status_code != 200:
            raise ProviderError("provider_error", f"HTTP {response.status_code}")
        raw = response.content.decode("utf-8", "replace")
        if '"error_response"' in raw and f'"{key}"' not in raw:
            content, sign = signed_part(raw, "error_response")
        else:
            content, sign = signed_part(raw, key)
        try:
            ok = bool(sign) and verify_with_rsa(self.secret["alipay_public_key"], content.encode("utf-8"), sign)
        except Exception:  # noqa: BLE001 — rsa.VerificationError and malformed signs alike
            ok = False
        if not ok:
            raise ProviderError("provider_error", "Alipay answer signature invalid")
        body = json.loads(content)
        if str(body.get("code")) != "10000":
            body["_failed"] = f"{body.get('sub_code') or body.get('code')}: {body.get('sub_msg') or body.get('msg') or ''}"
        return body

    def start(self, request: PayRequest) -> PayAction:
        if request.channel == "wap":
            model, api = AlipayTradeWapPayModel(), AlipayTradeWapPayRequest
            model.product_code = "QUICK_WAP_WAY"
            if request.return_url:
                model.quit_url = request.return_url
        elif request.channel == "page":
            model, api = AlipayTradePagePayModel(), AlipayTradePagePayRequest
            model.product_code = "FAST_INSTANT_TRADE_PAY"
        else:
            raise ProviderError("config", f"unknown channel {request.channel}")
        model.out_trade_no = request.out_trade_no
        model.total_amount = fen_to_yuan(request.amount_fen)
        model.subject = request.description[:256]
        if request.expires_at is not None:
            model.time_expire = request.expires_at.astimezone(ALIPAY_TIME).strftime("%Y-%m-%d %H:%M:%S")
        page = self._certified(api(biz_model=model))
        page.notify_url = request.notify_url
        if request.return_url:
            page.return_url = request.return_url
        try:
            url = self.client.page_execute(page, http_method="GET")
        except Exception as err:  # noqa: BLE001
            raise ProviderError("config", f"Alipay request not signed: {type(err).__name__}") from err
        return PayAction("redirect", url=url)

    def query(self, out_trade_no: str) -> Notice:
        model = AlipayTradeQueryModel()
        model.out_trade_no = out_trade_no
        body = self._server(AlipayTradeQueryRequest(biz_model=model), "alipay_trade_query_response")
        if body.get("_failed"):
            if body.get("sub_code") == "ACQ.TRADE_NOT_EXIST":  # the buyer never opened the page
                return Notice("payment", out_trade_no, "pending")
            raise ProviderError("provider_error", body["_failed"])
        return Notice("payment", out_trade_no, TRADE_STATES.get(body.get("trade_status"), "pending"),
                      _fen(body.get("total_amount")), body.get("trade_no"), _time(body.get("send_pay_date")))

    def close(self, out_trade_no: str) -> None:
        model = AlipayTradeCloseModel()
        model.out_trade_no = out_trade_no
        body = self._server(AlipayTradeCloseRequest(biz_model=model), "alipay_trade_close_response")
        if body.get("_failed") and body.get("sub_code") != "ACQ.TRADE_NOT_EXIST":
            raise ProviderError("provider_error", body["_failed"])

    def refund(self, request: RefundRequest) -> Notice:
        model = AlipayTradeRefundModel()
        model.out_trade_no = request.out_trade_no
        model.out_request_no = request.out_refund_no
        model.refund_amount = fen_to_yuan(request.amount_fen)
        if request.reason:
            model.refund_reason = request.reason[:256]
        if request.royalty_returns:
            # 退分账: what each receiver of the split gives back, in the same refund.
            back = []
            for account, amount, kind in request.royalty_returns:
                part = OpenApiRoyaltyDetailInfoPojo()
                part.royalty_type, part.trans_out_type, part.trans_out = "transfer", kind, account
                part.amount = fen_to_yuan(amount)
                back.append(part)
            model.refund_royalty_parameters = back
        body = self._server(AlipayTradeRefundRequest(biz_model=model), "alipay_trade_refund_response")
        if body.get("_failed"):
            raise ProviderError("provider_error", body["_failed"])
        # A refund Alipay accepted has moved the money (fund_change Y; N for a repeat of one
        # already made): its answer is the confirmation.
        return Notice("refund", request.out_refund_no, "succeeded", request.amount_fen, body.get("trade_no"),
                      _time(body.get("gmt_refund_pay")), out_trade_no=request.out_trade_no)

    def transfer(self, request: TransferRequest) -> Notice:
        """单笔转账 to an Alipay account (login id) with the payee's name checked. Its answer
        is final: SUCCESS pays, a refusal names why; DEALING waits for the query."""
        model = AlipayFundTransUniTransferModel()
        model.out_biz_no = request.out_no
        model.trans_amount = fen_to_yuan(request.amount_fen)
        model.product_code = "TRANS_ACCOUNT_NO_PWD"
        model.biz_scene = "DIRECT_TRANSFER"
        model.order_title = request.remark[:64]
        payee = Participant()
        payee.identity, payee.identity_type, payee.name = request.account, "ALIPAY_LOGON_ID", request.name
        model.payee_info = payee
        body = self._server(AlipayFundTransUniTransferRequest(biz_model=model), "alipay_fund_trans_uni_transfer_response")
        return self._transfer_notice(request.out_no, body)

    def transfer_query(self, out_no: str) -> Notice:
        model = AlipayFundTransCommonQueryModel()
        model.out_biz_no = out_no
        model.product_code = "TRANS_ACCOUNT_NO_PWD"
        model.biz_scene = "DIRECT_TRANSFER"
        body = self._server(AlipayFundTransCommonQueryRequest(biz_model=model), "alipay_fund_trans_common_query_response")
        return self._transfer_notice(out_no, body)

    def _transfer_notice(self, out_no: str, body: dict) -> Notice:
        if body.get("_failed"):
            if body.get("sub_code") in ("SYSTEM_ERROR", "ACQ.SYSTEM_ERROR"):
                raise ProviderError("provider_error", body["_failed"])  # unknown: ask again later
            return Notice("payout", out_no, "failed", reason=body.get("sub_msg") or body["_failed"])
        status = {"SUCCESS": "succeeded", "FAIL": "failed", "CLOSED": "failed"}.get(body.get("status"), "pending")
        return Notice("payout", out_no, status, _fen(body.get("trans_amount")), body.get("order_id"),
                      _time(body.get("trans_date") or body.get("pay_date")), body.get("fail_reason"))

    def split(self, request: SplitRequest) -> Notice:
        """统一收单交易结算 (alipay.trade.order.settle): the suppliers' shares of the trade to
        their Alipay accounts (login ids, bound to the app by royalty.relation.bind). An
        accepted request is the confirmation here (Alipay settles it at once or reports a
        failure on query); a refusal names why."""
        model = AlipayTradeOrderSettleModel()
        model.out_request_no = request.out_no
        model.trade_no = request.provider_txn_id
        parts = []
        for account, amount, kind in request.receivers:
            part = OpenApiRoyaltyDetailInfoPojo()
            part.royalty_type, part.trans_in_type, part.trans_in = "transfer", kind, account
            part.amount, part.desc = fen_to_yuan(amount), request.description[:80]
            parts.append(part)
        model.royalty_parameters = parts
        body = self._server(AlipayTradeOrderSettleRequest(biz_model=model), "alipay_trade_order_settle_response")
        # A refusal here made no settle (the query will not know the number); a system error
        # may have: the split asks before sending again.
        if body.get("_failed"):
            if body.get("sub_code") in ("SYSTEM_ERROR", "ACQ.SYSTEM_ERROR"):
                raise ProviderError("provider_error", body["_failed"])
            return Notice("split", request.out_no, "failed", reason=body.get("sub_msg") or body["_failed"])
        return Notice("split", request.out_no, "succeeded", provider_id=body.get("settle_no") or body.get("trade_no"))

    # 交易分账查询 answers these when it has no settle under the request number (the request
    # never reached Alipay, or Alipay refused it before making one).
    SETTLE_UNKNOWN = ("ACQ.TRADE_NOT_EXIST", "ACQ.SETTLE_NOT_EXIST", "ACQ.ROYALTY_NOT_EXIST")

    def split_query(self, out_no: str, provider_txn_id: str) -> Notice:
        """交易分账查询 (alipay.trade.order.settle.query) by the request number and the trade:
        each receiver's ``transfer`` detail in ``royalty_detail_list`` (state SUCCESS, FAIL or
        PROCESSING). All SUCCESS: succeeded; any PROCESSING (or none listed yet): pending;
        all final with a FAIL: ``partial`` with each receiver's result (``failed`` when none
        got it); ``not_found`` when Alipay has no such settle."""
        model = AlipayTradeOrderSettleQueryModel()
        model.out_request_no = out_no
        model.trade_no = provider_txn_id
        body = self._server(AlipayTradeOrderSettleQueryRequest(biz_model=model),
                            "alipay_trade_order_settle_query_response")
        if body.get("_failed"):
            if body.get("sub_code") in self.SETTLE_UNKNOWN:
                return Notice("split", out_no, "not_found", reason=body["_failed"])
            raise ProviderError("provider_error", body["_failed"])
        details = [d for d in body.get("royalty_detail_list") or []
                   if (d.get("operation_type") or "transfer") == "transfer"]
        states = [d.get("state") for d in details]
        if states and all(s == "SUCCESS" for s in states):
            return Notice("split", out_no, "succeeded", provider_id=body.get("settle_no"))
        if not states or any(s not in ("SUCCESS", "FAIL") for s in states):
            return Notice("split", out_no, "pending")
        parts = {str(d.get("trans_in")): ("SUCCESS" if d.get("state") == "SUCCESS" else "CLOSED",
                                          d.get("error_desc") or d.get("error_code")) for d in details}
        reasons = [str(d.get("error_desc") or d.get("error_code")) for d in details
                   if d.get("state") == "FAIL" and (d.get("error_desc") or d.get("error_code"))]
        return Notice("split", out_no, "partial" if "SUCCESS" in states else "failed",
                      reason=",".join(reasons) or "FAIL", parts=parts)

    def bind_receiver(self, account: str, account_type: str, kind: str, name: str | None = None) -> None:
        """分账关系绑定 (alipay.trade.royalty.relation.bind): a receiver must be bound to the
        app before a settle names it; binding again answers success. ``name``, the account's
        real name, is required for a loginName (checked when given for a userId)."""
        import secrets

        if account_type == "loginName" and not name:
            raise ProviderError("config", "Alipay needs the real name of a receiver given by login (loginName)")
        model = AlipayTradeRoyaltyRelationBindModel()
        model.out_request_no = "B" + secrets.token_hex(12)
        entity = RoyaltyEntity()
        entity.type, entity.account, entity.memo = account_type, account, "供货商" if kind == "supplier" else "推客"
        if name:
            entity.name = name
        model.receiver_list = [entity]
        body = self._server(AlipayTradeRoyaltyRelationBindRequest(biz_model=model),
                            "alipay_trade_royalty_relation_bind_response")
        if body.get("_failed"):
            raise ProviderError("provider_error", body["_failed"])

    def split_return(self, request: SplitReturnRequest) -> Notice:
        raise ProviderError("config", "Alipay returns a split inside its refund (refund_royalty_parameters)")

    def bill(self, day) -> list[BillRow]:
        """The trade bill of ``day``: its download URL asked for, the zip downloaded, and the
        业务明细 CSV (GBK; ``#`` lines are comments; number-like cells end with a tab) read:
        交易 rows are payments (订单金额), 退款 rows refunds (退款批次号/请求号, 商家实收 as a
        negative amount)."""
        import csv
        import io
        import zipfile

        model = AlipayDataDataserviceBillDownloadurlQueryModel()
        model.bill_type, model.bill_date = "trade", day.isoformat()
        body = self._server(AlipayDataDataserviceBillDownloadurlQueryRequest(biz_model=model),
                            "alipay_data_dataservice_bill_downloadurl_query_response")
        if body.get("_failed"):
            if body.get("sub_code") == "isp.bill_not_exist":  # no trade that day
                return []
            raise ProviderError("provider_error", body["_failed"])
        try:
            response = requests.get(body["bill_download_url"], timeout=self.timeout)
            response.raise_for_status()
            # The entries' names are GBK without the zip's UTF-8 flag (Alipay's Java
            # integrations open the archive with a GBK charset); read as cp437 they never
            # end with 业务明细.csv.
            archive = zipfile.ZipFile(io.BytesIO(response.content), metadata_encoding="gbk")
            name = next(n for n in archive.namelist() if n.endswith("_业务明细.csv"))
            text = archive.read(name).decode("gbk")
        except requests.Timeout as err:
            raise ProviderError("timeout", "no answer from Alipay") from err
        except (requests.RequestException, KeyError, StopIteration, zipfile.BadZipFile, UnicodeDecodeError) as err:
            raise ProviderError("provider_error", f"bill unreadable: {type(err).__name__}") from err
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        out = []
        for row in csv.DictReader(io.StringIO("\n".join(lines))):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            kind = row.get("业务类型")
            if kind == "交易":
                out.append(BillRow("payment", row.get("商户订单号", ""), _fen(row.get("订单金额（元）")) or 0,
                                   row.get("支付宝交易号")))
            elif kind == "退款":
                out.append(BillRow("refund", row.get("退款批次号/请求号", ""),
                                   _fen((row.get("商家实收（元）") or "").lstrip("-")) or 0, row.get("支付宝交易号")))
        return out

    def parse_notification(self, headers: dict, body: bytes) -> Notice:
        from urllib.parse import parse_qsl

        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise NotificationRejected("unreadable form") from None
        sign = params.pop("sign", None)
        sign_type = params.pop("sign_type", None)
        if not sign or sign_type != "RSA2":
            raise NotificationRejected("no RSA2 signature")
        try:
            ok = verify_with_rsa(self.secret["alipay_public_key"], get_sign_content(params).encode("utf-8"), sign)
        except Exception:  # noqa: BLE001 — rsa.VerificationError and malformed signs alike
            ok = False
        if not ok:
            raise NotificationRejected("signature invalid")
        if params.get("app_id") != self.settings["app_id"]:
            raise NotificationRejected("another app's notification")
        if params.get("out_biz_no") and params.get("refund_fee"):
            return Notice("refund", params["out_biz_no"], "succeeded", None, params.get("trade_no"),
                          _time(params.get("gmt_refund")), out_trade_no=params.get("out_trade_no"))
        return Notice("payment", params.get("out_trade_no") or "",
                      TRADE_STATES.get(params.get("trade_status"), "pending"), _fen(params.get("total_amount")),
                      params.get("trade_no"), _time(params.get("gmt_payment")))

    def acknowledge(self, ok: bool):
        return ("success" if ok else "fail"), 200, {"Content-Type": "text/plain; charset=utf-8"}
