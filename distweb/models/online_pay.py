"""Online payment through a provider (WeChat Pay, Alipay): the brand's provider settings
(secrets encrypted at rest), each payment attempt of an order, each refund sent to a
provider, and every notification received (verified or not)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow

PROVIDERS = ("wechat", "alipay")
PAYMENT_STATUSES = ("pending", "paid", "failed", "closed")
REFUND_STATUSES = ("pending", "succeeded", "failed")


class PaymentProviderConfig(db.Model):
    """One provider's settings for a brand. ``settings`` holds what may be shown again
    (merchant/app ids, certificate serial numbers); ``secret_box`` the encrypted JSON of
    what may not (private keys, the APIv3 key, public keys), written by
    ``services.secret_box`` only and never read back into a page or a log."""

    __tablename__ = "payment_provider_configs"
    __table_args__ = (
        UniqueConstraint("brand_id", "provider"),
        CheckConstraint("provider IN ('wechat', 'alipay')", name="provider_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    provider: Mapped[str] = mapped_column(String(12))
    enabled: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    secret_box: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Which secrets are set (names only, for the page's "已设置" marks).
    secret_names: Mapped[list] = mapped_column(JSON, default=list)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class Payment(db.Model):
    """One attempt to collect an order's money through a provider. ``out_trade_no`` is the
    number the provider knows it by (unique across the installation)."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'paid', 'failed', 'closed')", name="status_known"),
        Index("ix_payments_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(12))  # jsapi, h5, native, wap, page
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))
    # What the buyer's page needs to pay: a URL to open, a QR code's text, JSAPI parameters.
    action: Mapped[dict] = mapped_column(JSON, default=dict)
    failure: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    paid_at = mapped_column(UTCDateTime)
    closed_at = mapped_column(UTCDateTime)


class PaymentRefund(db.Model):
    """A refund sent to the provider. distweb's own refund (``orders.refund``: the order's
    figures and the ledger's reversal) is made when the provider confirms it, with
    ``out_refund_no`` as its refund id, so a repeated confirmation refunds nothing twice."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    out_refund_no: Mapped[str] = mapped_column(String(40), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    # [{"sku": ..., "amount_fen": ...}]: what orders.refund is given on confirmation.
    lines: Mapped[list] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    provider_refund_id: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    completed_at = mapped_column(UTCDateTime)


class PaymentNotice(db.Model):
    """Every notification a provider sent, verified or not: what it said (never a secret;
    the body is kept only once verified and decrypted) and what distweb did with it."""

    __tablename__ = "payment_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"), index=True)
    provider: Mapped[str] = mapped_column(String(12))
    verified: Mapped[bool] = mapped_column(default=False)
    kind: Mapped[str | None] = mapped_column(String(12))  # payment, refund
    reference: Mapped[str | None] = mapped_column(String(40))  # out_trade_no / out_refund_no
    outcome: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)
    received_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ProviderPayout(db.Model):
    """An approved withdrawal paid through a provider (WeChat Pay 商家转账到零钱, Alipay
    单笔转账). The withdrawal becomes paid (``withdrawals.mark_paid``) on the provider's
    confirmation; a failure leaves it approved, with the provider's reason here."""

    __tablename__ = "provider_payouts"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    withdrawal_id: Mapped[int] = mapped_column(ForeignKey("withdrawals.id"), index=True)
    provider: Mapped[str] = mapped_column(String(12))
    out_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    completed_at = mapped_column(UTCDateTime)
    # WeChat 商家转账 (用户确认模式): what the payee's phone hands to requestMerchantTransfer
    # to confirm; only while the bill waits for the payee (WAIT_USER_CONFIRM).
    package_info: Mapped[str | None] = mapped_column(String(1024))
    # 撤销转账: when a manager asked WeChat to cancel this (still pending) transfer; the
    # payout shows 撤销中 until WeChat confirms CANCELLED or the payee's confirmation wins.
    cancel_requested_at = mapped_column(UTCDateTime)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("payout_batches.id"), index=True)


class PayoutBatch(db.Model):
    """批量打款 of a settlement run: one background job pays every approved withdrawal of
    the run that a provider can pay (``services.provider_payouts.pay_batch``); each payout
    it starts names the batch. ``counts``: succeeded / pending / failed / skipped."""

    __tablename__ = "payout_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    settlement_run_id: Mapped[int] = mapped_column(ForeignKey("settlement_runs.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    notify_base: Mapped[str] = mapped_column(String(300))
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ReconciliationReport(db.Model):
    """对账: one provider's daily bill against distweb's own records of that day (Beijing
    time): every difference listed (``differences``: kind, reference, distweb's and the
    provider's amounts). Made again (replaced) when run again for the same day."""

    __tablename__ = "reconciliation_reports"
    __table_args__ = (UniqueConstraint("brand_id", "provider", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    provider: Mapped[str] = mapped_column(String(12))
    day = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(12))  # matched, differences, failed
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    differences: Mapped[list] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(String(200))
    checked_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SplitReceiver(db.Model):
    """Where a supplier's share of a consignment order goes through a provider's 分账: its
    WeChat Pay receiver (an openid under the brand's AppID, or a merchant id) or its Alipay
    account (login id)."""

    __tablename__ = "split_receivers"
    __table_args__ = (UniqueConstraint("brand_id", "supplier_id", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    provider: Mapped[str] = mapped_column(String(12))
    account: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(60))
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class ProfitSplit(db.Model):
    """实时分账 of one order paid online: the suppliers' shares the ledger computed, sent to
    the provider after the freeze window with its own out_no (a repeat is the same split);
    on success the ledger moves them out of what the brand owes the suppliers."""

    __tablename__ = "profit_splits"
    __table_args__ = (
        # 0 with status manual: every receiver of the order stays with the manual flow (and why).
        CheckConstraint("amount_fen > 0 OR (amount_fen = 0 AND status = 'manual')", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'manual')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    provider: Mapped[str] = mapped_column(String(12))
    out_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    # [{kind supplier|promoter, supplier_id|promoter_id, line_ids, account, account_type,
    #   amount_fen, manual (why it stays with the manual flow), result}]
    receivers: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    failure: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    next_try_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    completed_at = mapped_column(UTCDateTime)
    # When ``out_no`` was last sent: from then on the provider may know it, so a pending
    # split is asked about (WeChat's query) before it is sent again.
    sent_at = mapped_column(UTCDateTime)
    # The out_nos of earlier attempts that finally failed, oldest first: a manager's retry
    # sends the split under a new out_no (the provider answers a repeat of a failed one
    # with the same failure).
    earlier_out_nos: Mapped[list] = mapped_column(JSON, default=list, server_default=text("'[]'"))


class PaymentOptions(db.Model):
    """A brand's options for online payment that are not one provider's: how long an unpaid
    online order stays open (None: ``PAYMENT_CLOSE_MINUTES``), and whether promoters'
    commission goes out through the providers' 分账 with the suppliers' shares."""

    __tablename__ = "payment_options"
    __table_args__ = (
        CheckConstraint("close_minutes IS NULL OR (close_minutes >= 5 AND close_minutes <= 10080)",
                        name="close_minutes_range"),
    )

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    close_minutes: Mapped[int | None]
    commission_split: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class RoyaltyBinding(db.Model):
    """A receiver the provider knows already (Alipay 分账关系绑定 ``royalty.relation.bind``,
    WeChat Pay 添加分账接收方): bound once, when a split first uses it."""

    __tablename__ = "royalty_bindings"
    __table_args__ = (UniqueConstraint("brand_id", "provider", "account"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    provider: Mapped[str] = mapped_column(String(12))
    account: Mapped[str] = mapped_column(String(100))
    bound_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SplitReturn(db.Model):
    """分账回退 of an order refunded after its split went out: what the refund takes back
    from each receiver of the split (``receivers``: [{kind, owner_id, line_ids, account,
    account_type, amount_fen}]), returned through the provider with its own out_no (WeChat
    Pay return-orders, one per receiver as ``out_no``-<n>; Alipay inside the refund as
    refund_royalty_parameters). ``manual``: the provider cannot return it (a WeChat
    personal receiver, or Alipay after its refund went); finance gets it back by hand.
    ``awaiting``: made while the split's outcome was open (in flight, or unanswered): what
    the refund took from each receiver, made a return once the split turns out paid;
    ``void``: nothing to return (the split paid no one, or the refund failed; ``failure``
    says which)."""

    __tablename__ = "split_returns"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status IN ('waiting', 'pending', 'succeeded', 'failed', 'manual', 'awaiting', 'void')",
                        name="status_known"),
        UniqueConstraint("refund_id", "split_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    split_id: Mapped[int] = mapped_column(ForeignKey("profit_splits.id"), index=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("payment_refunds.id"))
    provider: Mapped[str] = mapped_column(String(12))
    out_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    receivers: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="waiting")
    attempts: Mapped[int] = mapped_column(default=0)
    failure: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    next_try_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    completed_at = mapped_column(UTCDateTime)
