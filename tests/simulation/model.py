"""A plain-Python model of who is owed what, written from docs/PRODUCT.md and docs/API.md
without the application's code: the simulation drives the real services and, after every
step, compares the database with this model.

It knows only the money primitives (``distweb.money``: exact rounding and largest-remainder
allocation); pricing, funding, reversals, settlement eligibility, withdrawals and the
paid-out order are written out here again, as simply as possible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from distweb.money import allocate, round_div

TZ = "Asia/Shanghai"


@dataclass
class Plan:
    version: int | None
    depth: int = 2
    rates: dict[int, int] = field(default_factory=lambda: {1: 1000, 2: 500})
    freeze_days: int = 7
    rounding: str = "half_up"
    max_total_bp: int = 3000
    self_purchase: bool = False
    funding: str = "supplier"

    def body(self) -> dict:
        return {"depth": self.depth, "freeze_days": self.freeze_days, "rounding": self.rounding,
                "max_total_bp": self.max_total_bp, "self_purchase": self.self_purchase,
                "consignment_funding": self.funding,
                "rules": [{"scope": {}, "level": level, "kind": "percent", "base": "paid", "rate_bp": rate}
                          for level, rate in sorted(self.rates.items()) if level <= self.depth]}


@dataclass
class MPromoter:
    key: str
    upline: str | None
    distributor: bool
    active: bool = True


@dataclass
class MItem:
    sku: str
    quantity: int
    paid: int
    cost: int
    refunded: int = 0


@dataclass
class MLine:
    order: str
    item: int  # the item's place in its order
    promoter: str
    level: int
    kind: str  # commission | margin
    amount: int
    version: int | None
    funds: bool = False  # a distributor's margin line its uplines' commission comes out of
    reversed: int = 0
    clawback: int = 0
    status: str = "frozen"
    settled_seq: int | None = None  # when settled: settlement batches in the order they ran
    db_id: int | None = None

    @property
    def kept(self) -> int:
        return self.amount - self.reversed


@dataclass
class MOrder:
    key: str
    mode: str
    seller: str
    items: list[MItem]
    chain: list[str | None]  # L1..L3 as snapshotted at placement
    credited: str | None  # the promoter credited with the sale
    binds: tuple[str, str] | None = None  # (buyer, promoter) its payment binds
    status: str = "created"
    completed_at: datetime | None = None
    lines: list[MLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(i.paid for i in self.items)

    @property
    def refunded(self) -> int:
        return sum(i.refunded for i in self.items)


@dataclass
class MWithdrawal:
    promoter: str
    amount: int
    fee: int
    at: datetime
    status: str = "requested"
    db_id: int | None = None


@dataclass
class Rules:
    """The brand's withdrawal rules (docs/API.md "Withdrawal rules")."""

    min_fen: int = 1000
    fee_bp: int = 0
    fee_min_fen: int = 0
    daily_limit_fen: int | None = None
    auto_approve_below_fen: int | None = None

    def body(self) -> dict:
        return {"min_fen": self.min_fen, "fee_bp": self.fee_bp, "fee_min_fen": self.fee_min_fen,
                "daily_limit_fen": self.daily_limit_fen, "methods": ["alipay", "wechat", "bank"],
                "auto_approve_below_fen": self.auto_approve_below_fen}


class Refused(Exception):
    """The model says the service must refuse this (the error code it must give)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class Model:
    def __init__(self, plan: Plan):
        self.plans: dict[int | None, Plan] = {None: Plan(None), plan.version: plan}
        self.plan = plan
        self.promoters: dict[str, MPromoter] = {}
        self.orders: dict[str, MOrder] = {}
        self.withdrawals: list[MWithdrawal] = []
        self.bindings: dict[str, str] = {}  # buyer phone -> promoter (permanent binding)
        self.accounts: dict[tuple[str, str], int] = {}
        self.settle_seq = 0
        self.rules = Rules()

    # ------------------------------------------------------------ accounts

    def _add(self, kind: str, owner: str, amount: int) -> None:
        if amount:
            self.accounts[(kind, owner)] = self.accounts.get((kind, owner), 0) + amount

    def balance(self, kind: str, owner: str = "") -> int:
        return self.accounts.get((kind, owner), 0)

    # ------------------------------------------------------------ the network

    def add_promoter(self, key: str, upline: str | None, distributor: bool) -> None:
        self.promoters[key] = MPromoter(key, upline, distributor)

    def ancestors(self, key: str) -> list[str]:
        found, current = [], self.promoters[key].upline
        while current is not None:
            found.append(current)
            current = self.promoters[current].upline
        return found

    def move(self, key: str, new_upline: str | None) -> None:
        if new_upline == key:
            raise Refused("self_upline")
        if new_upline is not None and key in self.ancestors(new_upline):
            raise Refused("cycle")
        self.promoters[key].upline = new_upline

    def set_active(self, key: str, active: bool) -> None:
        if self.promoters[key].active == active:
            raise Refused("invalid_transition")
        self.promoters[key].active = active

    def save_plan(self, plan: Plan) -> None:
        self.plans[plan.version] = plan
        self.plan = plan

    # ------------------------------------------------------------ orders

    def _chain(self, start: str | None, buyer_is_start: bool) -> tuple[str | None, list[str | None]]:
        """(credited promoter, positions L1..L3): with self-purchase off a promoter buying
        for itself starts the chain at its upline; suspended positions pay no one."""
        if start is None:
            return None, [None, None, None]
        if buyer_is_start and not self.plan.self_purchase:
            start = self.promoters[start].upline
            if start is None:
                return None, [None, None, None]
        positions = [start, *self.ancestors(start)[:2]]
        positions += [None] * (3 - len(positions))
        return start, [p if p is not None and self.promoters[p].active else None for p in positions]

    def place(self, key: str, mode: str, seller: str, items: list[MItem], buyer: str, paid: bool) -> MOrder:
        """``buyer``: the buyer's phone (promoters are keyed by theirs: a promoter buying)."""
        if mode in ("consignment", "wholesale") and not self.promoters[seller].distributor:
            raise Refused("not_a_distributor")
        own = buyer in self.promoters
        if mode == "wholesale":  # the distributor buys stock for itself
            credited, chain = self._chain(seller, True)
        elif mode == "consignment":  # the seller of record is the shop's distributor
            credited, chain = self._chain(seller, own and buyer == seller)
        binds = None
        if mode == "promotion":  # the buyer's first (permanent) binding credits the sale
            chosen = self.bindings.get(buyer)
            if chosen is None:
                chosen = seller
                if buyer != seller:  # a promoter is never bound to itself; payment binds
                    binds = (buyer, seller)
            credited, chain = self._chain(chosen, own and buyer == chosen)
        order = MOrder(key, mode, seller, items, chain, credited, binds)
        self.orders[key] = order
        if paid:
            self.pay(key)
        return order

    def pay(self, key: str) -> None:
        order = self.orders[key]
        if order.status == "paid":
            return  # a repeated payment notice changes nothing
        if order.status != "created":
            raise Refused("invalid_transition")
        order.status = "paid"
        if order.binds is not None:  # the first paid order binds; a buyer bound since stays
            self.bindings.setdefault(*order.binds)
        plan = self.plan
        order.lines = self._price(order, plan)
        self._accrue(order, plan)

    def _price(self, order: MOrder, plan: Plan) -> list[MLine]:
        lines: list[MLine] = []
        for index, item in enumerate(order.items):
            for level in range(1, plan.depth + 1):
                who = order.chain[level - 1]
                if who is None:
                    continue
                if order.mode == "consignment" and level == 1:
                    lines.append(MLine(order.key, index, who, 1, "margin", max(0, item.paid - item.cost),
                                       plan.version))
                elif level in plan.rates:
                    amount = round_div(item.paid * plan.rates[level], 10_000, plan.rounding)
                    lines.append(MLine(order.key, index, who, level, "commission", amount, plan.version))
        commission = [line for line in lines if line.kind == "commission"]
        cap = round_div(order.total * plan.max_total_bp, 10_000, "half_even")
        if sum(line.amount for line in commission) > cap:
            for line, amount in zip(commission, allocate(cap, [line.amount for line in commission]), strict=True):
                line.amount = amount
        if order.mode == "consignment" and plan.funding == "distributor":
            for margin in [line for line in lines if line.kind == "margin"]:
                uplines = [line for line in commission if line.item == margin.item]
                owed = sum(line.amount for line in uplines)
                if owed > margin.amount:
                    for line, amount in zip(uplines, allocate(margin.amount, [u.amount for u in uplines]),
                                            strict=True):
                        line.amount = amount
                    owed = margin.amount
                if owed:
                    margin.amount -= owed
                    margin.funds = True
        return [line for line in lines if line.amount > 0 or line.funds]

    def _accrue(self, order: MOrder, plan: Plan) -> None:
        if order.mode != "consignment":
            for line in order.lines:
                self._add("expense", "", -line.amount)
                self._add("frozen", line.promoter, line.amount)
            return
        for index, item in enumerate(order.items):
            margin = next((line for line in order.lines if line.item == index and line.kind == "margin"), None)
            uplines = [line for line in order.lines if line.item == index and line.kind == "commission"]
            self._add("clearing", "", -item.paid)
            self._add("supplier", "", item.cost)
            rest = item.paid - item.cost
            if margin is not None:
                credited = margin.amount + (sum(u.amount for u in uplines) if plan.funding == "distributor" else 0)
                self._add("frozen", margin.promoter, credited)
                rest -= credited
            self._add("revenue", "", rest)
            for line in uplines:
                self._add("frozen", line.promoter, line.amount)
                if plan.funding == "supplier":
                    self._add("supplier", "", -line.amount)
                elif margin is not None:
                    self._add("frozen", margin.promoter, -line.amount)
                else:
                    self._add("revenue", "", -line.amount)

    def complete(self, key: str, at: datetime) -> None:
        order = self.orders[key]
        if order.status == "completed":
            return
        if order.status not in ("paid", "shipped"):
            raise Refused("invalid_transition")
        order.status, order.completed_at = "completed", at

    def cancel(self, key: str) -> None:
        order = self.orders[key]
        if order.status == "cancelled":
            return
        if order.status not in ("created", "paid"):
            raise Refused("invalid_transition")
        was_paid = order.status == "paid"
        order.status = "cancelled"
        if was_paid:
            self._reverse(order, {i: item.refunded for i, item in enumerate(order.items)},
                          {i: item.paid for i, item in enumerate(order.items)})

    def refund(self, key: str, index: int, amount: int) -> None:
        order = self.orders[key]
        item = order.items[index]
        if order.status in ("created", "cancelled"):
            raise Refused("not_paid")
        if amount <= 0 or item.refunded + amount > item.paid:
            raise Refused("refund_exceeds_paid")
        before = {i: it.refunded for i, it in enumerate(order.items)}
        item.refunded += amount
        after = {i: it.refunded for i, it in enumerate(order.items)}
        if order.refunded == order.total:
            order.status = "refunded"
        self._reverse(order, before, after)

    def _reverse(self, order: MOrder, before: dict[int, int], after: dict[int, int]) -> None:
        if not order.lines:
            version = None
        else:
            version = order.lines[0].version
        plan = self.plans[version]
        for index, item in enumerate(order.items):
            if after[index] <= before[index]:
                continue
            its = [line for line in order.lines if line.item == index]
            total = sum(line.amount for line in its)
            target = 0 if after[index] >= item.paid else round_div(total * (item.paid - after[index]), item.paid,
                                                                     plan.rounding)
            give = sum(line.kept for line in its) - target
            parts = allocate(give, [line.kept for line in its]) if give > 0 else [0] * len(its)
            buyer_funded = 0
            for line, part in zip(its, parts, strict=True):
                if not part:
                    continue
                wallet = "frozen" if line.status == "frozen" else "available"
                if wallet == "available":
                    line.clawback += part
                line.reversed += part
                if line.kept == 0:
                    line.status = "reversed"
                self._add(wallet, line.promoter, -part)
                if order.mode != "consignment":
                    self._add("expense", "", part)
                elif line.kind == "commission" and plan.funding == "supplier":
                    self._add("supplier", "", part)
                else:
                    buyer_funded += part
            if order.mode == "consignment":
                refund_now = after[index] - before[index]

                cost_back = (self._cost_kept(item, before[index], plan.rounding)
                             - self._cost_kept(item, after[index], plan.rounding))
                self._add("clearing", "", refund_now)
                self._add("supplier", "", -cost_back)
                self._add("revenue", "", -(refund_now - cost_back - buyer_funded))

    @staticmethod
    def _cost_kept(item: MItem, refunded: int, rounding: str) -> int:
        """The supplier's cost still owed once ``refunded`` of the item is refunded."""
        if refunded >= item.paid:
            return 0
        return round_div(item.cost * (item.paid - refunded), item.paid, rounding)

    # ------------------------------------------------------------ settlement

    @staticmethod
    def cutoff(as_of: datetime, freeze_days: int) -> datetime:
        zone = ZoneInfo(TZ)
        day = as_of.astimezone(zone).date() + timedelta(days=1 - freeze_days)
        return datetime.combine(day, time(0), tzinfo=zone)

    def settle(self, as_of: datetime) -> tuple[int, int]:
        self.settle_seq += 1
        count = fen = 0
        for order in self.orders.values():
            if order.status not in ("completed", "refunded") or order.completed_at is None:
                continue
            for line in order.lines:
                if line.status != "frozen":
                    continue
                if order.completed_at >= self.cutoff(as_of, self.plans[line.version].freeze_days):
                    continue
                line.status, line.settled_seq = "available", self.settle_seq
                self._add("frozen", line.promoter, -line.kept)
                self._add("available", line.promoter, line.kept)
                count, fen = count + 1, fen + line.kept
        return count, fen

    # ------------------------------------------------------------ withdrawals

    def request(self, promoter: str, amount: int, at: datetime) -> MWithdrawal:
        rules = self.rules
        if not self.promoters[promoter].active:
            raise Refused("promoter_inactive")
        if amount < rules.min_fen:
            raise Refused("below_minimum")
        if amount > self.balance("available", promoter):
            raise Refused("insufficient_balance")
        if rules.daily_limit_fen is not None:
            zone = ZoneInfo(TZ)
            today = sum(w.amount for w in self.withdrawals if w.promoter == promoter and w.status != "rejected"
                        and w.at.astimezone(zone).date() == at.astimezone(zone).date())
            if today + amount > rules.daily_limit_fen:
                raise Refused("over_daily_limit")
        fee = min(amount, max(rules.fee_min_fen, round_div(amount * rules.fee_bp, 10_000, "half_up")))
        automatic = rules.auto_approve_below_fen is not None and amount < rules.auto_approve_below_fen
        w = MWithdrawal(promoter, amount, fee, at, "approved" if automatic else "requested")
        self.withdrawals.append(w)
        self._add("available", promoter, -amount)
        self._add("pending", promoter, amount)
        return w

    def approve(self, w: MWithdrawal) -> None:
        if w.status != "requested":
            raise Refused("invalid_transition")
        w.status = "approved"

    def reject(self, w: MWithdrawal) -> None:
        if w.status not in ("requested", "approved"):
            raise Refused("invalid_transition")
        w.status = "rejected"
        self._add("pending", w.promoter, -w.amount)
        self._add("available", w.promoter, w.amount)

    def paid(self, w: MWithdrawal) -> None:
        if w.status == "paid":
            return
        if w.status != "approved":
            raise Refused("invalid_transition")
        w.status = "paid"
        self._add("pending", w.promoter, -w.amount)
        self._add("paid_out", w.promoter, w.amount - w.fee)
        self._add("fees", "", w.fee)
        # The oldest settled lines first: covered by every paid withdrawal together.
        paid_total = sum(x.amount for x in self.withdrawals if x.promoter == w.promoter and x.status == "paid")
        settled = sorted((line for order in self.orders.values() for line in order.lines
                          if line.promoter == w.promoter and line.status in ("available", "paid_out")),
                         key=lambda line: (line.settled_seq, line.db_id))
        running = 0
        for line in settled:
            running += line.kept
            if line.status == "available" and running <= paid_total:
                line.status = "paid_out"

    # ------------------------------------------------------------ reading

    def lines(self) -> list[MLine]:
        return [line for order in self.orders.values() for line in order.lines]

    def wallet(self, promoter: str) -> dict[str, int]:
        return {"frozen_fen": self.balance("frozen", promoter), "available_fen": self.balance("available", promoter),
                "pending_withdrawal_fen": self.balance("pending", promoter),
                "withdrawn_fen": self.balance("paid_out", promoter)}
