"""The one payment-provider interface: what distweb asks of WeChat Pay, Alipay or the manual
flow, in distweb's own terms (integer fen, its own numbers), whatever the provider's wire
format. Adapters turn the provider's answers and notifications into ``Notice`` values;
``services.online_pay`` alone turns those into orders paid, closed and refunded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class ProviderError(Exception):
    """A call to the provider failed: ``code`` is ``timeout`` (no answer: the outcome is
    unknown), ``provider_error`` (the provider refused; ``reason`` is its message) or
    ``config`` (the brand's settings are incomplete or wrong)."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason[:200]


class NotificationRejected(Exception):
    """A notification that could not be verified (signature, certificate, decryption,
    timestamp, merchant): it changes nothing. The message names why, never a secret."""


@dataclass
class PayAction:
    """What the buyer's page does to pay: open ``url`` (H5, Alipay), show ``code`` as a QR
    code (Native), or hand ``params`` to WeChat's in-app JSAPI."""

    kind: str  # redirect, qr, jsapi
    url: str | None = None
    code: str | None = None
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "url": self.url, "code": self.code, "params": self.params}


@dataclass
class PayRequest:
    out_trade_no: str
    amount_fen: int
    description: str
    channel: str
    notify_url: str
    return_url: str | None = None
    client_ip: str | None = None
    openid: str | None = None
    expires_at: datetime | None = None
    profit_sharing: bool = False


@dataclass
class RefundRequest:
    out_trade_no: str
    out_refund_no: str
    amount_fen: int
    total_fen: int
    reason: str | None
    notify_url: str
    # Alipay 退分账: (account, amount_fen, account_type) each receiver of the split gives back.
    royalty_returns: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass
class TransferRequest:
    """A payout to a person: ``account`` is the payee's Alipay login (phone or email) or the
    WeChat openid under the brand's AppID; ``name`` is checked against it by the provider."""

    out_no: str
    amount_fen: int
    account: str
    name: str
    remark: str
    notify_url: str


@dataclass
class SplitRequest:
    """分账 of a paid order: ``receivers`` are (account, amount_fen, account_type) —
    the type in the provider's terms (WeChat MERCHANT_ID / PERSONAL_OPENID, Alipay
    loginName / userId)."""

    out_no: str
    out_trade_no: str
    provider_txn_id: str
    receivers: list[tuple[str, int, str]]
    description: str


@dataclass
class SplitReturnRequest:
    """分账回退: each receiver's (account, amount_fen, account_type) taken back from the
    split ``split_out_no`` (WeChat: one return-order per receiver, ``out_no``-<n>)."""

    out_no: str
    split_out_no: str
    receivers: list[tuple[str, int, str]]
    description: str


@dataclass
class BillRow:
    """One line of a provider's daily bill (对账单): a payment (``reference`` its
    out_trade_no) or a refund (its out_refund_no), with the amount in fen."""

    kind: str
    reference: str
    amount_fen: int
    provider_id: str | None = None


@dataclass
class Notice:
    """A provider's word on a payment (``kind="payment"``, ``reference`` its out_trade_no,
    ``status`` paid / pending / closed / failed), a refund (``kind="refund"``, ``reference``
    its out_refund_no) or a payout (``kind="payout"``, ``reference`` its out_no); refunds
    and payouts are succeeded / pending / failed."""

    kind: str
    reference: str
    status: str
    amount_fen: int | None = None
    provider_id: str | None = None
    at: datetime | None = None
    reason: str | None = None
    out_trade_no: str | None = None  # a refund's payment
    account: str | None = None  # a split notification's receiver
    # A split's final per-receiver results: {account: (SUCCESS or CLOSED, reason)}.
    parts: dict | None = None
    package: str | None = None  # a WeChat payout waiting for its payee: the confirm page's package_info


class PaymentProvider:
    """Implemented by each adapter. ``channels`` in the order offered; ``channel_for``
    picks one from the buyer's browser (``wechat``: inside WeChat, ``mobile``, ``desktop``)."""

    name = "manual"
    online = False
    channels: tuple[str, ...] = ()

    def channel_for(self, browser: str) -> str | None:
        return None

    def start(self, request: PayRequest) -> PayAction:
        raise NotImplementedError

    def query(self, out_trade_no: str) -> Notice:
        raise NotImplementedError

    def close(self, out_trade_no: str) -> None:
        raise NotImplementedError

    def refund(self, request: RefundRequest) -> Notice:
        raise NotImplementedError

    def transfer(self, request: TransferRequest) -> Notice:
        raise NotImplementedError

    def transfer_query(self, out_no: str) -> Notice:
        raise NotImplementedError

    def transfer_cancel(self, out_no: str) -> Notice:
        """撤销转账 of a payout still waiting for its payee: ``pending`` with ``reason``
        ``CANCELING`` while the provider cancels it, ``failed`` with ``CANCELLED`` once done."""
        raise NotImplementedError

    def split(self, request: SplitRequest) -> Notice:
        """Send a split (``kind="split"``: succeeded / pending / failed, or ``partial`` with
        ``parts``: final, some receivers paid and some not)."""
        raise NotImplementedError

    def split_query(self, out_no: str, provider_txn_id: str) -> Notice:
        """What became of a split sent before: as ``split`` answers, or ``not_found`` when
        the provider has no split ``out_no``."""
        raise NotImplementedError

    def unfreeze(self, out_no: str, provider_txn_id: str) -> None:
        """Give the brand a payment kept for a split that sends nothing (WeChat 解冻剩余资金;
        a provider that freezes nothing does nothing)."""

    def bind_receiver(self, account: str, account_type: str, kind: str, name: str | None = None) -> None:
        """Make ``account`` a receiver the provider will split to (``kind``: supplier or
        promoter; ``name``: the receiver's real or registered name, which the provider
        checks, and needs for a merchant id or an Alipay login); binding one already bound
        is harmless."""
        raise NotImplementedError

    def split_return(self, request: SplitReturnRequest) -> Notice:
        """分账回退 (``kind="split_return"``: succeeded / pending / failed)."""
        raise NotImplementedError

    def bill(self, day) -> list[BillRow]:
        """The provider's successful payments and refunds of ``day`` (its calendar day,
        Beijing time), from its daily bill."""
        raise NotImplementedError

    def parse_notification(self, headers: dict, body: bytes) -> Notice:
        """Verify and read a notification; raises NotificationRejected."""
        raise NotImplementedError

    def acknowledge(self, ok: bool) -> tuple[str | bytes, int, dict]:
        """The HTTP answer the provider expects (anything but success makes it retry)."""
        raise NotImplementedError


class ManualProvider(PaymentProvider):
    """Today's flow, for a brand with no provider: the brand collects the money its own way
    and a manager marks the order paid, or whatever collected it sends a signed
    ``POST /pay/notify`` (``services.payments``)."""

    name = "manual"
    online = False


def fen_to_yuan(fen: int) -> str:
    """1 → '0.01': the providers' yuan strings, exactly (no float)."""
    if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0:
        raise ValueError("fen must be a non-negative integer")
    return f"{fen // 100}.{fen % 100:02d}"
