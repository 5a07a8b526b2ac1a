"""Online payment: a buyer pays a shop order with WeChat Pay or Alipay; the provider's
notification makes the order paid through the one order-paid path
(``payments.notify_paid`` → ``orders.mark_paid``), exactly once whatever order and however
often notifications arrive; unpaid orders close after the brand's close time; refunds
go to the provider and are made in distweb (``orders.refund``: the order's figures and the
ledger's reversal) when the provider confirms them.

A brand with no provider enabled keeps the manual flow (``services.payments``). The
providers' secrets are kept encrypted (``services.secret_box``), never shown again and
never logged; notifications that cannot be verified change nothing and are logged
(``payment_notices`` and the log, without their content).
"""

from __future__ import annotations

import logging
import re
import secrets as pysecrets
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from distweb.extensions import db
from distweb.models import (
    AuditEntry,
    Brand,
    Order,
    Payment,
    PaymentNotice,
    PaymentOptions,
    PaymentProviderConfig,
    PaymentRefund,
)
from distweb.models.base import utcnow
from distweb.models.order import OrderStatus
from distweb.services import orders, payments, secret_box
from distweb.services.errors import Conflict, NotFound, ServiceError
from distweb.services.payment_providers import (
    FIELDS,
    Notice,
    NotificationRejected,
    PaymentProvider,
    PayRequest,
    ProviderError,
    RefundRequest,
    build,
)
from distweb.services.tx import transaction

log = logging.getLogger(__name__)

PROVIDER_LABELS = {"wechat": _l("微信支付"), "alipay": _l("支付宝")}
MAX_SETTING = 300
MAX_SECRET = 8000


# ---------------------------------------------------------------- settings


def configs(brand_id: int) -> dict[str, PaymentProviderConfig]:
    return {c.provider: c for c in db.session.scalars(
        select(PaymentProviderConfig).where(PaymentProviderConfig.brand_id == brand_id))}


def env_config(brand_id: int, name: str, stored: dict | None = None) -> dict | None:
    """The provider's settings from the environment (``services.payment_env``) when they
    apply to this brand: it has saved none for the provider on its page (``stored``: its
    saved configs, when the caller has them) and ``DISTWEB_PAYMENT_ENV_BRAND`` names it or
    is unset."""
    supplied = (current_app.config.get("PAYMENT_ENV") or {}).get(name)
    if supplied is None:
        return None
    brands = current_app.config.get("PAYMENT_ENV_BRANDS")
    if brands is not None and brand_id not in brands:
        return None
    if name in (configs(brand_id) if stored is None else stored):
        return None
    return supplied


def enabled(brand_id: int) -> list[str]:
    """The brand's enabled providers, in the order offered to buyers."""
    found = configs(brand_id)
    return [name for name in FIELDS if (name in found and found[name].enabled)
            or env_config(brand_id, name, found) is not None]


def enabled_pairs() -> list[tuple[int, str]]:
    """Every (brand id, provider) taking online payment, from saved settings or the
    environment."""
    pairs = {(b, name) for b, name in db.session.execute(
        select(PaymentProviderConfig.brand_id, PaymentProviderConfig.provider)
        .where(PaymentProviderConfig.enabled.is_(True)))}
    supplied = current_app.config.get("PAYMENT_ENV") or {}
    if supplied:
        saved = {(b, name) for b, name in db.session.execute(
            select(PaymentProviderConfig.brand_id, PaymentProviderConfig.provider))}
        brands = current_app.config.get("PAYMENT_ENV_BRANDS")
        ids = db.session.scalars(select(Brand.id)).all() if brands is None else sorted(brands)
        pairs |= {(b, name) for b in ids for name in supplied if (b, name) not in saved}
    return sorted(pairs)


def _pem_private(text: str, pkcs1: bool) -> str:
    """A private key as pasted (PEM, or the bare base64 the providers' tools print), checked
    and stored as PKCS#8 PEM (wechatpayv3) or PKCS#1 PEM (the Alipay SDK)."""
    body = text.strip()
    if "-----BEGIN" not in body:
        body = "-----BEGIN PRIVATE KEY-----\n" + re.sub(r"\s+", "", body) + "\n-----END PRIVATE KEY-----"
    try:
        key = serialization.load_pem_private_key(body.encode(), password=None)
    except (ValueError, TypeError):
        if "BEGIN PRIVATE KEY" in body:  # the bare base64 may be PKCS#1
            try:
                key = serialization.load_pem_private_key(
                    body.replace("BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY")
                    .replace("END PRIVATE KEY", "END RSA PRIVATE KEY").encode(), password=None)
            except (ValueError, TypeError):
                key = None
        else:
            key = None
    if key is None:
        raise ServiceError("invalid_key", _l("私钥无法读取，请粘贴完整的 PEM 私钥。"))
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _pem_public(text: str) -> str:
    """A public key, or the public key of a certificate (Alipay's 公钥证书模式 gives
    alipayCertPublicKey_RSA2.crt), as SubjectPublicKeyInfo PEM."""
    body = text.strip()
    if "BEGIN CERTIFICATE" in body:
        from cryptography import x509

        try:
            body = x509.load_pem_x509_certificate(body.encode()).public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        except ValueError:
            raise ServiceError("invalid_key", _l("证书无法读取，请粘贴完整的 PEM 证书。")) from None
    if "-----BEGIN" not in body:
        body = "-----BEGIN PUBLIC KEY-----\n" + re.sub(r"\s+", "", body) + "\n-----END PUBLIC KEY-----"
    try:
        key = serialization.load_pem_public_key(body.encode())
    except (ValueError, TypeError):
        raise ServiceError("invalid_key", _l("公钥无法读取，请粘贴完整的 PEM 公钥。")) from None
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _check_secret(provider: str, name: str, value: str) -> str:
    if len(value) > MAX_SECRET:
        raise ServiceError("too_long", _l("内容过长。"), name)
    try:
        if name == "private_key":
            return _pem_private(value, pkcs1=False)
        if name == "app_private_key":
            return _pem_private(value, pkcs1=True)
        if name in ("public_key", "alipay_public_key"):
            return _pem_public(value)
    except ServiceError as err:
        raise ServiceError(err.code, err.message, name) from None
    if name in ("app_public_cert", "alipay_root_cert"):
        from cryptography import x509

        try:
            x509.load_pem_x509_certificates(value.strip().encode())
        except ValueError:
            raise ServiceError("invalid_certificate", _l("证书无法读取，请粘贴完整的 PEM 证书。"), name) from None
        return value.strip()
    if name == "apiv3_key" and len(value.encode()) != 32:
        raise ServiceError("invalid_apiv3_key", _l("APIv3 密钥应为 32 个字符。"), name)
    return value.strip()


def save_config(brand_id: int, provider: str, is_enabled: bool, settings: dict, new_secrets: dict,
                actor=None) -> PaymentProviderConfig:
    """Save a provider's settings. A secret left empty keeps the one stored; the page never
    receives a stored secret back. Enabling needs every required field."""
    if provider not in FIELDS:
        raise NotFound("unknown_provider", _l("不支持的支付方式。"))
    shown, hidden, required = FIELDS[provider]
    clean = {}
    for name in shown:
        value = (settings.get(name) or "").strip()
        if len(value) > MAX_SETTING:
            raise ServiceError("too_long", _l("内容过长。"), name)
        if value and name in ("proxy", "gateway") and not re.match(r"^https?://[^\s]+$", value):
            raise ServiceError("invalid_url", _l("请填写以 http:// 或 https:// 开头的地址。"), name)
        clean[name] = value
    checked = {name: _check_secret(provider, name, value) for name, value in new_secrets.items()
               if name in hidden and value and value.strip()}
    with transaction():
        config = db.session.scalars(select(PaymentProviderConfig).where(
            PaymentProviderConfig.brand_id == brand_id, PaymentProviderConfig.provider == provider)
            .with_for_update()).first()
        if config is None:
            config = PaymentProviderConfig(brand_id=brand_id, provider=provider, settings={}, secret_names=[])
            db.session.add(config)
        stored = secret_box.open_box(config.secret_box)
        stored.update(checked)
        if is_enabled:
            for name in required:
                if not (clean.get(name) or stored.get(name)):
                    raise ServiceError("required", _l("启用前请填写此项。"), name)
        config.settings = clean
        config.secret_box = secret_box.seal(stored)
        config.secret_names = sorted(stored)
        config.enabled = bool(is_enabled)
        config.updated_at = utcnow()
        db.session.flush()
        db.session.add(AuditEntry(brand_id=brand_id, actor_user_id=getattr(actor, "id", None),
                                  action="payment_settings", subject_type="payment_provider", subject_id=config.id,
                                  details={"provider": provider, "enabled": bool(is_enabled),
                                           "secrets_changed": sorted(checked)}))
    return config


CLOSE_MINUTES_RANGE = (5, 10080)  # five minutes to a week (the providers' own limits are wider)


def options(brand_id: int) -> PaymentOptions | None:
    return db.session.get(PaymentOptions, brand_id)


def close_minutes(brand_id: int) -> int:
    """How long the brand's unpaid online orders stay open: its own setting, else
    ``PAYMENT_CLOSE_MINUTES``."""
    found = options(brand_id)
    if found is not None and found.close_minutes is not None:
        return int(found.close_minutes)
    return int(current_app.config["PAYMENT_CLOSE_MINUTES"])


def commission_split(brand_id: int) -> bool:
    found = options(brand_id)
    return bool(found is not None and found.commission_split)


def save_options(brand_id: int, close_after: int | None, split_commission: bool, actor=None) -> PaymentOptions:
    """The brand's close time (None: the installation's default) and commission 分账."""
    low, high = CLOSE_MINUTES_RANGE
    if close_after is not None and (isinstance(close_after, bool) or not isinstance(close_after, int)
                                    or not low <= close_after <= high):
        raise ServiceError("invalid_close_minutes", _l("关单时间应为 %(low)s 到 %(high)s 分钟之间的整数。",
                                                        low=low, high=high), "close_minutes")
    with transaction():
        row = db.session.get(PaymentOptions, brand_id, with_for_update=True)
        if row is None:
            row = PaymentOptions(brand_id=brand_id)
            db.session.add(row)
        row.close_minutes = close_after
        row.commission_split = bool(split_commission)
        row.updated_at = utcnow()
        db.session.add(AuditEntry(brand_id=brand_id, actor_user_id=getattr(actor, "id", None),
                                  action="payment_options", subject_type="brand", subject_id=brand_id,
                                  details={"close_minutes": close_after, "commission_split": bool(split_commission)}))
    return row


def provider_for(brand_id: int, name: str, require_enabled: bool = True) -> PaymentProvider:
    """The adapter for the brand's provider, from its saved settings or the environment."""
    stored = configs(brand_id)
    config = stored.get(name)
    supplied = env_config(brand_id, name, stored) if config is None else None
    if supplied is not None:
        secret = {}
        for key, value in supplied["secret"].items():
            try:
                secret[key] = _check_secret(name, key, value)
            except ServiceError as err:
                from distweb.services.payment_env import variable

                raise ProviderError("config", f"{variable(name, key)}: {err.code}") from None
        return build(name, dict(supplied["settings"]), secret, float(current_app.config["PAYMENT_HTTP_TIMEOUT"]),
                     ("env", name))
    if config is None or (require_enabled and not config.enabled):
        raise NotFound("provider_not_enabled", _l("该支付方式未开通。"))
    secret = secret_box.open_box(config.secret_box)
    return build(name, dict(config.settings or {}), secret, float(current_app.config["PAYMENT_HTTP_TIMEOUT"]),
                 (config.id, config.updated_at.isoformat() if config.updated_at else ""))


# ---------------------------------------------------------------- checkout

WECHAT_UA = re.compile(r"MicroMessenger", re.I)
MOBILE_UA = re.compile(r"Mobile|Android|iPhone|iPad|HarmonyOS", re.I)


def browser_kind(user_agent: str | None) -> str:
    ua = user_agent or ""
    if WECHAT_UA.search(ua):
        return "wechat"
    return "mobile" if MOBILE_UA.search(ua) else "desktop"


@dataclass
class CheckoutContext:
    notify_base: str  # https://shop.example.com (no trailing slash)
    return_url: str | None = None
    client_ip: str | None = None
    openid: str | None = None


def notify_url(base: str, provider: str) -> str:
    root = (current_app.config.get("PAYMENT_NOTIFY_BASE") or base).rstrip("/")
    return f"{root}/pay/{provider}/notify"


def _new_out_trade_no(order: Order) -> str:
    return f"D{order.id}{pysecrets.token_hex(6).upper()}"[:32]


def payments_of(order_id: int) -> list[Payment]:
    return list(db.session.scalars(select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)))


def start_payment(order: Order, provider_name: str, browser: str, ctx: CheckoutContext) -> Payment:
    """A new payment attempt for an unpaid order, through the channel the buyer's browser
    takes. A refusal or no answer from the provider is a message for the buyer; the order
    stays unpaid and the attempt is recorded failed."""
    provider = provider_for(order.brand_id, provider_name)
    channel = provider.channel_for(browser)
    if channel is None:
        raise ServiceError("channel_unavailable", _l("当前浏览器不支持该支付方式。"))
    if channel == "jsapi" and not ctx.openid:
        raise ServiceError("openid_required", _l("请在微信中重新打开本页后支付。"))
    if order.status != OrderStatus.CREATED:
        raise Conflict("not_payable", _l("该订单已付款或已关闭，无需支付。"), "status")
    if order.total_paid_fen <= 0:
        raise ServiceError("nothing_to_pay", _l("该订单无需付款。"))
    now = utcnow()
    minutes = close_minutes(order.brand_id)
    expires = now + timedelta(minutes=minutes)
    with transaction():
        payment = Payment(brand_id=order.brand_id, order_id=order.id, provider=provider_name, channel=channel,
                          out_trade_no=_new_out_trade_no(order), amount_fen=order.total_paid_fen, status="pending",
                          action={}, created_at=now)
        db.session.add(payment)
    request = PayRequest(out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen,
                         description=_description(order), channel=channel,
                         notify_url=notify_url(ctx.notify_base, provider_name), return_url=ctx.return_url,
                         client_ip=ctx.client_ip, openid=ctx.openid, profit_sharing=_splits(order, provider_name),
                         expires_at=max(expires, order.placed_at + timedelta(minutes=minutes)))
    try:
        action = provider.start(request)
    except ProviderError as err:
        log.warning("payment %s via %s not started: %s", payment.out_trade_no, provider_name, err.code)
        with transaction():
            payment.status = "failed"
            payment.failure = err.reason
        raise ServiceError("provider_unavailable", _l("暂时无法发起支付，请稍后再试或换一种支付方式。")) from err
    with transaction():
        payment.action = action.as_dict()
    return payment


def _splits(order: Order, provider_name: str) -> bool:
    """WeChat Pay keeps a payment to be split (分账) frozen when it is made so."""
    from distweb.services import profit_sharing

    return provider_name == "wechat" and profit_sharing.wants_split(order, provider_name)


def _description(order: Order) -> str:
    names = [item.name for item in order.items]
    text = names[0] if names else order.external_id
    return (text + (f" 等{len(names)}件" if len(names) > 1 else ""))[:100]


def buyer_status(order: Order) -> dict:
    """What the buyer's page shows while it polls: paid, closed, failed or waiting."""
    if order.status in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED, OrderStatus.REFUNDED):
        state = "paid"
    elif order.status == OrderStatus.CANCELLED:
        state = "closed"
    else:
        latest = db.session.scalars(select(Payment).where(Payment.order_id == order.id)
                                    .order_by(Payment.id.desc()).limit(1)).first()
        state = "failed" if latest is not None and latest.status == "failed" else (
            "pending" if latest is not None else "unpaid")
        if state == "pending" and latest.status == "pending":
            return {"status": state, "order_status": order.status.value, "payment": latest.out_trade_no}
    return {"status": state, "order_status": order.status.value}


# ---------------------------------------------------------------- notifications


def _record_notice(brand_id: int | None, provider: str, verified: bool, outcome: str, notice: Notice | None = None,
                   detail: str | None = None) -> None:
    with transaction():
        db.session.add(PaymentNotice(brand_id=brand_id, provider=provider, verified=verified,
                                     kind=notice.kind if notice else None,
                                     reference=(notice.reference[:40] if notice else None),
                                     outcome=outcome[:40], detail=(detail or "")[:500] or None))


def receive(brand: Brand, provider_name: str, headers: dict, body: bytes) -> tuple[PaymentProvider | None, bool]:
    """A notification from a provider: verified, then applied. Returns the adapter (for its
    acknowledgement) and whether to acknowledge success (else the provider sends it again)."""
    try:
        provider = provider_for(brand.id, provider_name, require_enabled=False)
    except (NotFound, ProviderError, secret_box.SecretBoxError) as err:
        log.warning("%s notification for a brand without its settings: %s", provider_name, type(err).__name__)
        _record_notice(brand.id, provider_name, False, "not_configured")
        return None, False
    try:
        notice = provider.parse_notification(headers, body)
    except NotificationRejected as err:
        log.warning("unverifiable %s notification refused: %s", provider_name, err)
        _record_notice(brand.id, provider_name, False, "rejected", detail=str(err))
        return provider, False
    try:
        if notice.kind == "payment":
            outcome = apply_payment_notice(brand, provider_name, notice)
        elif notice.kind == "payout":
            from distweb.services import provider_payouts

            outcome = provider_payouts.apply_notice(brand, notice)
        elif notice.kind == "split":
            from distweb.services import profit_sharing

            outcome = profit_sharing.apply_notice(brand, notice)
        elif notice.kind == "split_return":
            # WeChat's 分账回退 notification names the split, not the return order: the
            # return's result is the return-order's own answer (or its query).
            outcome = "noted"
        else:
            outcome = apply_refund_notice(brand, provider_name, notice)
    except ServiceError as err:
        db.session.rollback()
        outcome = f"refused:{err.code}"
        log.warning("%s notification %s not applied: %s", provider_name, notice.reference, err.code)
    ok = not outcome.startswith("refused")
    _record_notice(brand.id, provider_name, True, outcome, notice)
    return provider, ok


def apply_payment_notice(brand: Brand, provider_name: str, notice: Notice) -> str:
    """A verified word on a payment. Paid: the order becomes paid once (the payment row is
    marked in the same transaction); a repeat changes nothing. Closed/failed: the attempt
    is marked so; the order stays unpaid (the buyer may pay another way)."""
    payment = db.session.scalars(select(Payment).where(
        Payment.out_trade_no == notice.reference, Payment.brand_id == brand.id,
        Payment.provider == provider_name)).first()
    if payment is None:
        raise NotFound("payment_not_found", _l("支付记录不存在。"))
    if notice.status != "paid":
        if notice.status in ("closed", "failed") and payment.status == "pending":
            with transaction():
                db.session.execute(update(Payment).where(Payment.id == payment.id, Payment.status == "pending")
                                   .values(status=notice.status, failure=(notice.reason or None),
                                           closed_at=utcnow()))
            return notice.status
        return "ignored"
    if notice.amount_fen != payment.amount_fen:
        log.warning("payment %s: notified amount differs from the order's", payment.out_trade_no)
        raise ServiceError("amount_mismatch", _l("付款金额与订单金额不一致。"))
    if payment.status == "paid":
        return "duplicate"
    order = db.session.get(Order, payment.order_id)
    paid_at = notice.at or utcnow()
    marked = []

    def record(_order):
        db.session.execute(update(Payment).where(Payment.id == payment.id).values(
            status="paid", provider_txn_id=(notice.provider_id or "")[:64] or None, paid_at=paid_at, failure=None))
        marked.append(True)

    try:
        payments.notify_paid(brand, order.external_id, notice.amount_fen, paid_at, notice.provider_id,
                             before_commit=record)
    except Conflict:
        # Paid after the order closed: the money is in, the order is not; finance refunds it.
        db.session.rollback()
        _mark_paid_only(payment, notice, paid_at, "订单已关闭后才付款，原路退回")
        log.warning("payment %s arrived after its order closed: returned to the buyer", payment.out_trade_no)
        return_extra(payment.id)
        return "paid_after_close"
    if not marked:
        if db.session.scalar(select(Payment.status).where(Payment.id == payment.id)) == "paid":
            return "duplicate"  # the same notification, applied meanwhile by another request
        # The order was paid already (another attempt, or the manager): this money is extra.
        _mark_paid_only(payment, notice, paid_at, "订单已由其他支付付款，原路退回")
        log.warning("payment %s paid an order already paid: returned to the buyer", payment.out_trade_no)
        return_extra(payment.id)
        return "paid_twice"
    return "paid"


def return_extra(payment_id: int) -> PaymentRefund | None:
    """Money a buyer paid that no order keeps (a second payment of a paid order, or one that
    came after its order closed) goes straight back through the provider: a refund with no
    order lines, which touches neither the order nor the ledger (they never counted it).
    Its confirmation, a timeout or a refusal are handled like any refund's."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.status != "paid" or payment.failure is None:
        return None
    if db.session.scalar(select(PaymentRefund.id).where(PaymentRefund.payment_id == payment.id,
                                                        PaymentRefund.status != "failed").limit(1)):
        return None
    with transaction():
        refund = PaymentRefund(brand_id=payment.brand_id, order_id=payment.order_id, payment_id=payment.id,
                               out_refund_no=f"R{payment.order_id}{pysecrets.token_hex(6).upper()}",
                               amount_fen=payment.amount_fen, lines=[], reason="重复付款原路退回", status="pending",
                               created_at=utcnow())
        db.session.add(refund)
    try:
        provider = provider_for(payment.brand_id, payment.provider, require_enabled=False)
        notice = provider.refund(RefundRequest(payment.out_trade_no, refund.out_refund_no, payment.amount_fen,
                                               payment.amount_fen, refund.reason,
                                               notify_url(current_app.config.get("PAYMENT_NOTIFY_BASE") or "",
                                                          payment.provider)))
    except ProviderError as err:
        log.warning("extra payment %s not returned yet: %s", payment.out_trade_no, err.code)
        if err.code != "timeout":
            with transaction():
                refund.status, refund.failure, refund.completed_at = "failed", err.reason, utcnow()
        return refund
    notice.reference = refund.out_refund_no
    _apply_refund(refund, notice)
    return refund


def _mark_paid_only(payment: Payment, notice: Notice, paid_at, note: str) -> None:
    with transaction():
        db.session.execute(update(Payment).where(Payment.id == payment.id, Payment.status != "paid").values(
            status="paid", provider_txn_id=(notice.provider_id or "")[:64] or None, paid_at=paid_at, failure=note))


# ---------------------------------------------------------------- closing unpaid orders


def close_expired(now=None, limit: int = 200) -> int:
    """Close shop orders left unpaid for the brand's close time (``close_minutes``) in brands that take
    online payment: each open attempt is first asked about (a lost notification that says
    paid pays the order instead) and closed at the provider; an attempt the provider cannot
    answer for leaves the order for the next sweep. Safe to run twice."""
    now = now or utcnow()
    brands = sorted({brand_id for brand_id, _name in enabled_pairs()})
    if not brands:
        return 0
    closed = 0
    for brand_id in brands:
        cutoff = now - timedelta(minutes=close_minutes(brand_id))
        due = db.session.scalars(select(Order).where(
            Order.brand_id == brand_id, Order.status == OrderStatus.CREATED, Order.source == "shop",
            Order.placed_at < cutoff).order_by(Order.id).limit(limit)).all()
        for order in due:
            if _close_order(order, now):
                closed += 1
    return closed


def _close_order(order: Order, now) -> bool:
    brand = db.session.get(Brand, order.brand_id)
    for payment in [p for p in payments_of(order.id) if p.status == "pending"]:
        try:
            provider = provider_for(order.brand_id, payment.provider, require_enabled=False)
            notice = provider.query(payment.out_trade_no)
            if notice.status == "paid":
                notice.reference = payment.out_trade_no
                apply_payment_notice(brand, payment.provider, notice)
                return False
            provider.close(payment.out_trade_no)
        except (ProviderError, ServiceError) as err:
            log.warning("payment %s not closed yet: %s", payment.out_trade_no, getattr(err, "code", ""))
            db.session.rollback()
            return False
        with transaction():
            db.session.execute(update(Payment).where(Payment.id == payment.id, Payment.status == "pending")
                               .values(status="closed", closed_at=now))
    try:
        orders.cancel(order.brand_id, order.id, reason="超时未付款，订单已关闭")
    except ServiceError:
        db.session.rollback()
        return False
    return True


# ---------------------------------------------------------------- refunds


def paid_payment(order_id: int) -> Payment | None:
    """The online payment that paid the order (None: paid by hand or through the API)."""
    return db.session.scalars(select(Payment).where(
        Payment.order_id == order_id, Payment.status == "paid", Payment.failure.is_(None))
        .order_by(Payment.id).limit(1)).first()


def refunds_of(order_id: int) -> list[PaymentRefund]:
    return list(db.session.scalars(select(PaymentRefund).where(PaymentRefund.order_id == order_id)
                                   .order_by(PaymentRefund.id)))


def start_refund(brand_id: int, order_id: int, lines: list[orders.RefundItemInput], reason: str | None,
                 notify_base: str) -> PaymentRefund:
    """A refund of an order paid online: sent to the provider, and made in distweb when the
    provider confirms it (at once when its answer says so, else on its notification).
    Amounts already on their way back (pending) count against what may still be refunded."""
    order = orders.order_by_id(brand_id, order_id)
    payment = paid_payment(order.id)
    if payment is None:
        raise Conflict("not_paid_online", _l("该订单不是在线支付的，请按原方式退款。"))
    if order.status in (OrderStatus.CREATED, OrderStatus.CANCELLED):
        raise Conflict("not_paid", _l("订单未付款或已取消，无需退款。"), "status")
    if not lines:
        raise ServiceError("empty_items", _l("退款至少需要一个商品。"), "items")
    by_sku = {item.sku: item for item in order.items}
    pending: dict[str, int] = {}
    for refund in refunds_of(order.id):
        if refund.status == "pending":
            for line in refund.lines:
                pending[line["sku"]] = pending.get(line["sku"], 0) + int(line["amount_fen"])
    seen, total = set(), 0
    for i, line in enumerate(lines):
        where = f"items[{i}]"
        item = by_sku.get(line.sku)
        if item is None:
            raise ServiceError("unknown_sku", _l("订单中没有 SKU %(sku)s。", sku=line.sku), f"{where}.sku")
        if line.sku in seen:
            raise ServiceError("duplicate_sku", _l("同一退款中 SKU 不能重复。"), f"{where}.sku")
        seen.add(line.sku)
        if isinstance(line.amount_fen, bool) or not isinstance(line.amount_fen, int) or line.amount_fen <= 0:
            raise ServiceError("invalid_amount", _l("退款金额必须是正整数（分）。"), f"{where}.amount_fen")
        if item.refunded_fen + pending.get(line.sku, 0) + line.amount_fen > item.paid_fen:
            raise ServiceError("refund_exceeds_paid", _l("退款金额超过了该商品的实付金额。"), f"{where}.amount_fen")
        total += line.amount_fen
    with transaction():
        refund = PaymentRefund(brand_id=brand_id, order_id=order.id, payment_id=payment.id,
                               out_refund_no=f"R{order.id}{pysecrets.token_hex(6).upper()}", amount_fen=total,
                               lines=[{"sku": line.sku, "amount_fen": line.amount_fen} for line in lines],
                               reason=(reason or "").strip()[:200] or None, status="pending", created_at=utcnow())
        db.session.add(refund)
    from distweb.services import split_returns

    returned = split_returns.prepare(order, refund)  # a split already sent: what its receivers give back
    if returned is not None and returned.status == "pending":
        split_returns.send(returned)  # WeChat Pay: before the refund
    provider = provider_for(brand_id, payment.provider, require_enabled=False)
    try:
        notice = provider.refund(RefundRequest(payment.out_trade_no, refund.out_refund_no, total, payment.amount_fen,
                                               refund.reason, notify_url(notify_base, payment.provider),
                                               split_returns.royalty_for(refund.id)))
    except ProviderError as err:
        if err.code == "timeout":
            # Unknown outcome: it stays pending; the provider's notification (or a retry
            # with the same out_refund_no, which providers treat as the same refund) decides.
            log.warning("refund %s: no answer from %s; left pending", refund.out_refund_no, payment.provider)
            return refund
        with transaction():
            refund.status, refund.failure, refund.completed_at = "failed", err.reason, utcnow()
        split_returns.refund_settled(refund.id, False, err.reason)
        raise ServiceError("refund_refused", _l("支付平台拒绝了退款：%(reason)s", reason=err.reason)) from err
    notice.reference = refund.out_refund_no
    _apply_refund(refund, notice)
    return refund


RETRY_AFTER = timedelta(minutes=5)


def retry_refunds(now=None, limit: int = 100) -> int:
    """Refunds still pending after ``RETRY_AFTER`` (no answer when sent, or a lost
    notification) are sent again with the same out_refund_no, which both providers treat
    as the same refund: their answer completes, fails or leaves it. Safe to run twice."""
    now = now or utcnow()
    due = db.session.scalars(select(PaymentRefund).where(
        PaymentRefund.status == "pending", PaymentRefund.created_at < now - RETRY_AFTER)
        .order_by(PaymentRefund.id).limit(limit)).all()
    done = 0
    for refund in due:
        payment = db.session.get(Payment, refund.payment_id)
        try:
            provider = provider_for(refund.brand_id, payment.provider, require_enabled=False)
            from distweb.services import split_returns

            notice = provider.refund(RefundRequest(payment.out_trade_no, refund.out_refund_no, refund.amount_fen,
                                                   payment.amount_fen, refund.reason,
                                                   notify_url(current_app.config.get("PAYMENT_NOTIFY_BASE") or "",
                                                              payment.provider),
                                                   split_returns.royalty_for(refund.id)))
            notice.reference = refund.out_refund_no
            if _apply_refund(refund, notice) in ("refunded", "refund_failed"):
                done += 1
        except (ProviderError, ServiceError) as err:
            db.session.rollback()
            log.warning("refund %s still pending: %s", refund.out_refund_no, getattr(err, "code", ""))
    return done


def apply_refund_notice(brand: Brand, provider_name: str, notice: Notice) -> str:
    refund = db.session.scalars(select(PaymentRefund).where(
        PaymentRefund.out_refund_no == notice.reference, PaymentRefund.brand_id == brand.id)).first()
    if refund is None:
        raise NotFound("refund_not_found", _l("退款记录不存在。"))
    return _apply_refund(refund, notice)


def _apply_refund(refund: PaymentRefund, notice: Notice) -> str:
    """The provider's confirmation: distweb's refund, once (its refund id is the
    out_refund_no, which ``orders.refund`` takes once per order); or its failure."""
    if notice.amount_fen is not None and notice.amount_fen != refund.amount_fen:
        raise ServiceError("amount_mismatch", _l("退款金额与申请不一致。"))
    if notice.status == "pending":
        return "pending"
    if notice.status == "failed":
        if refund.status == "succeeded":
            return "ignored"
        with transaction():
            db.session.execute(update(PaymentRefund).where(PaymentRefund.id == refund.id,
                                                           PaymentRefund.status == "pending")
                               .values(status="failed", failure=(notice.reason or "")[:200] or None,
                                       completed_at=utcnow()))
        from distweb.services import split_returns

        split_returns.refund_settled(refund.id, False, notice.reason)
        return "refund_failed"
    if refund.status == "succeeded":
        return "duplicate"
    if not refund.lines:  # an extra payment returned: nothing of the order's to undo
        with transaction():
            db.session.execute(update(PaymentRefund).where(PaymentRefund.id == refund.id).values(
                status="succeeded", provider_refund_id=(notice.provider_id or "")[:64] or None,
                completed_at=notice.at or utcnow(), failure=None))
        return "returned"
    try:
        orders.refund(refund.brand_id, refund.order_id, refund.out_refund_no,
                      [orders.RefundItemInput(line["sku"], int(line["amount_fen"])) for line in refund.lines],
                      refund.reason, at=notice.at)
    except Conflict as err:
        db.session.rollback()
        if err.code != "duplicate_refund":
            raise
    with transaction():
        db.session.execute(update(PaymentRefund).where(PaymentRefund.id == refund.id).values(
            status="succeeded", provider_refund_id=(notice.provider_id or "")[:64] or None,
            completed_at=notice.at or utcnow(), failure=None))
    from distweb.services import split_returns

    split_returns.refund_settled(refund.id, True)  # Alipay: its 退分账 came with it
    return "refunded"
