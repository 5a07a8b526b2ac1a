"""对账: each provider's daily bill against distweb's own records, every day. The ledger
(through the payments and refunds distweb made from verified notifications) is the source
of truth; the report lists every difference for finance to look at:

- ``missing_in_distweb``: the provider has a payment or refund distweb did not record as
  paid / refunded (a lost notification the sweep has not found yet, or money distweb never
  asked for);
- ``missing_at_provider``: distweb recorded one the provider's bill does not have;
- ``amount_differs``: both have it, for different amounts;
- ``needs_refund``: a payment the provider took for an order that was closed or already
  paid (``online_pay`` marks these): the buyer is owed the money back.

Run by the worker's sweep for the brand's previous calendar day (Beijing time, as the
providers' bills), once a day; a failed download is tried again an hour later. Running it
again for a day replaces that day's report.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from distweb.extensions import db
from distweb.models import Payment, PaymentRefund, ReconciliationReport
from distweb.models.base import utcnow
from distweb.services import online_pay
from distweb.services.payment_providers import ProviderError
from distweb.services.tx import transaction

log = logging.getLogger(__name__)
BILL_TIME = ZoneInfo("Asia/Shanghai")  # the providers' bills are by Beijing calendar day
RETRY_FAILED_AFTER = timedelta(hours=1)
# Providers publish a day's bill the next morning (WeChat Pay after 10:00).
BILL_READY = time(10, 30)


def _window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=BILL_TIME)
    return start, start + timedelta(days=1)


def ours(brand_id: int, provider: str, day: date) -> dict[tuple[str, str], tuple[int, str | None]]:
    """distweb's payments (paid that day) and refunds (asked for that day for WeChat Pay,
    confirmed that day for Alipay, as each provider's bill lists them) through ``provider``:
    (kind, reference) → (amount, note)."""
    start, end = _window(day)
    found: dict[tuple[str, str], tuple[int, str | None]] = {}
    returned = {payment_id for payment_id, lines in db.session.execute(
        select(PaymentRefund.payment_id, PaymentRefund.lines).join(Payment, Payment.id == PaymentRefund.payment_id)
        .where(PaymentRefund.brand_id == brand_id, PaymentRefund.status == "succeeded", Payment.provider == provider,
               Payment.failure.is_not(None), Payment.paid_at >= start, Payment.paid_at < end)) if not lines}
    for payment in db.session.scalars(select(Payment).where(
            Payment.brand_id == brand_id, Payment.provider == provider, Payment.status == "paid",
            Payment.paid_at >= start, Payment.paid_at < end)):
        # An extra payment (no order keeps it) needs its refund until it is returned.
        note = payment.failure if payment.id not in returned else None
        found[("payment", payment.out_trade_no)] = (payment.amount_fen, note)
    # WeChat Pay's bill lists a refund on the day it accepted it ("当天发起退款成功的退款单，退款
    # 发起成功就会出账"; its 交易时间 "不是退款成功时间"), so a refund confirmed after midnight
    # is on the day it was asked for; Alipay refunds on the day they are made (its answer).
    at = PaymentRefund.created_at if provider == "wechat" else PaymentRefund.completed_at
    for refund in db.session.execute(select(PaymentRefund).join(Payment, Payment.id == PaymentRefund.payment_id).where(
            PaymentRefund.brand_id == brand_id, Payment.provider == provider, PaymentRefund.status == "succeeded",
            at >= start, at < end)).scalars():
        found[("refund", refund.out_refund_no)] = (refund.amount_fen, None)
    return found


def reconcile(brand_id: int, provider: str, day: date) -> ReconciliationReport:
    try:
        rows = online_pay.provider_for(brand_id, provider, require_enabled=False).bill(day)
    except ProviderError as err:
        log.warning("reconciliation of %s for %s: bill not read (%s)", provider, day, err.code)
        return _save(brand_id, provider, day, "failed", {}, [], err.reason)
    theirs = {(row.kind, row.reference): row.amount_fen for row in rows}
    mine = ours(brand_id, provider, day)
    differences = []
    for key in sorted(set(theirs) | set(mine)):
        kind, reference = key
        if key not in mine:
            differences.append({"kind": "missing_in_distweb", "type": kind, "reference": reference,
                                "distweb_fen": None, "provider_fen": theirs[key]})
        elif key not in theirs:
            differences.append({"kind": "missing_at_provider", "type": kind, "reference": reference,
                                "distweb_fen": mine[key][0], "provider_fen": None})
        elif theirs[key] != mine[key][0]:
            differences.append({"kind": "amount_differs", "type": kind, "reference": reference,
                                "distweb_fen": mine[key][0], "provider_fen": theirs[key]})
        elif mine[key][1]:
            differences.append({"kind": "needs_refund", "type": kind, "reference": reference,
                                "distweb_fen": mine[key][0], "provider_fen": theirs[key], "note": mine[key][1]})
    counts = {
        "provider_payments": sum(1 for k in theirs if k[0] == "payment"),
        "provider_payment_fen": sum(v for k, v in theirs.items() if k[0] == "payment"),
        "provider_refunds": sum(1 for k in theirs if k[0] == "refund"),
        "provider_refund_fen": sum(v for k, v in theirs.items() if k[0] == "refund"),
        "distweb_payments": sum(1 for k in mine if k[0] == "payment"),
        "distweb_payment_fen": sum(v[0] for k, v in mine.items() if k[0] == "payment"),
        "distweb_refunds": sum(1 for k in mine if k[0] == "refund"),
        "distweb_refund_fen": sum(v[0] for k, v in mine.items() if k[0] == "refund"),
    }
    return _save(brand_id, provider, day, "differences" if differences else "matched", counts, differences, None)


def _save(brand_id, provider, day, status, counts, differences, error) -> ReconciliationReport:
    with transaction():
        db.session.execute(delete(ReconciliationReport).where(
            ReconciliationReport.brand_id == brand_id, ReconciliationReport.provider == provider,
            ReconciliationReport.day == day))
        report = ReconciliationReport(brand_id=brand_id, provider=provider, day=day, status=status, counts=counts,
                                      differences=differences, error=(error or None), checked_at=utcnow())
        db.session.add(report)
    return report


def schedule_due(now: datetime | None = None) -> int:
    """Yesterday's report for every enabled provider that has none (or a failed one over an
    hour old), once the bills are published."""
    now = now or utcnow()
    local = now.astimezone(BILL_TIME)
    if local.time() < BILL_READY:
        return 0
    day = local.date() - timedelta(days=1)
    made = 0
    for brand_id, provider in online_pay.enabled_pairs():
        existing = db.session.scalars(select(ReconciliationReport).where(
            ReconciliationReport.brand_id == brand_id, ReconciliationReport.provider == provider,
            ReconciliationReport.day == day)).first()
        if existing is not None and (existing.status != "failed" or existing.checked_at > now - RETRY_FAILED_AFTER):
            continue
        reconcile(brand_id, provider, day)
        made += 1
    return made


def recent(brand_id: int, limit: int = 60) -> list[ReconciliationReport]:
    return list(db.session.scalars(select(ReconciliationReport).where(ReconciliationReport.brand_id == brand_id)
                                   .order_by(ReconciliationReport.day.desc(), ReconciliationReport.provider)
                                   .limit(limit)))
