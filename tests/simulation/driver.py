"""Random sequences of every money movement, run through the real services and checked after
every step against ``model.Model``.

A sequence is one brand of its own (a small random network of distributors and plain
promoters, a supplier, products at random prices and costs, a random commission plan) and a
seeded random walk of operations on a virtual clock: orders in the three modes (paid or
not, by buyers, by promoters for themselves), payments, completions, refunds in several
steps, cancellations, settlement runs, withdrawals requested and then approved, rejected or
paid in any interleaving, plan edits (depth, rates, rounding, funding, self-purchase,
freeze days), suspensions and moves. After each step every line, every balance and the
ledger's own rules are compared; the first difference ends the sequence as a violation.
"""

from __future__ import annotations

import itertools
import random
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from distweb.extensions import db
from distweb.models import (
    Brand,
    CommissionLine,
    LedgerAccount,
    LedgerEntry,
    Order,
    OrderItem,
    Product,
    ProgrammeSettings,
    Promoter,
    Supplier,
    User,
)
from distweb.models.ledger import AccountKind
from distweb.models.network import PromoterStatus
from distweb.models.user import Role
from distweb.services import commission, network, orders, settlement, withdrawal_rules, withdrawals
from distweb.services.errors import ServiceError
from distweb.services.verify import verify
from tests.simulation.model import TZ, MItem, Model, MWithdrawal, Plan, Refused, Rules

START = datetime(2026, 10, 1, 9, 0, tzinfo=ZoneInfo(TZ))
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2ltdWxhdGlvbg$notusedfortheloginbutwellformed00000000000"
ACCOUNT_NAMES = {AccountKind.PROMOTER_FROZEN: "frozen", AccountKind.PROMOTER_AVAILABLE: "available",
                 AccountKind.PROMOTER_PENDING_WITHDRAWAL: "pending", AccountKind.PAID_OUT: "paid_out",
                 AccountKind.SUPPLIER_PAYABLE: "supplier", AccountKind.BRAND_COMMISSION_EXPENSE: "expense",
                 AccountKind.BRAND_CLEARING: "clearing", AccountKind.BRAND_REVENUE: "revenue",
                 AccountKind.WITHDRAWAL_FEES: "fees"}
_brands = itertools.count(1)


@dataclass
class Outcome:
    seed: int
    operations: int = 0
    refused: int = 0
    violations: list[str] = field(default_factory=list)
    trail: list[str] = field(default_factory=list)


class Violation(AssertionError):
    pass


def random_rules(rng: random.Random) -> Rules:
    return Rules(min_fen=rng.choice([1, 100, 1000, 1000, 5000]), fee_bp=rng.choice([0, 0, 60, 100, 3333]),
                 fee_min_fen=rng.choice([0, 0, 100, 200]),
                 daily_limit_fen=rng.choice([None, None, 3000, 20000]),
                 auto_approve_below_fen=rng.choice([None, None, 2000, 10**9]))


def random_plan(rng: random.Random, version: int) -> Plan:
    depth = rng.choice([1, 2, 2, 3])
    rates = {1: rng.randrange(300, 1501, 7)}
    if depth >= 2:
        rates[2] = rng.randrange(0, 801, 13)
    if depth >= 3:
        rates[3] = rng.randrange(0, 401, 11)
    return Plan(version, depth=depth, rates=rates, freeze_days=rng.choice([0, 1, 1, 3, 7, 15]),
                rounding=rng.choice(["half_up", "half_even"]), max_total_bp=3000,
                self_purchase=rng.random() < 0.3, funding=rng.choice(["supplier", "distributor"]))


class Simulation:
    def __init__(self, seed: int, max_steps: int = 60):
        self.seed = seed
        self.rng = random.Random(seed)
        self.max_steps = max_steps
        self.now = START + timedelta(minutes=self.rng.randrange(0, 60 * 24 * 20))
        self.outcome = Outcome(seed)
        self.order_ids: dict[str, int] = {}
        self.promoter_ids: dict[str, int] = {}
        self.withdrawal_ids: dict[int, int] = {}  # id(model withdrawal) -> database id
        self.orders_placed = 0

    # ------------------------------------------------------------ set-up

    def setup(self) -> None:
        rng, n = self.rng, next(_brands)
        tag = f"{self.seed % 10**7}b{n}"
        brand = Brand(name=f"模拟品牌{tag}", short_name="模拟", timezone=TZ)
        db.session.add(brand)
        db.session.flush()
        db.session.add(ProgrammeSettings(brand_id=brand.id, rank_rules={}))
        self.manager = User(brand_id=brand.id, role=Role.MANAGER, name="经理", email=f"m{tag}@sim.invalid",
                            password_hash=PASSWORD_HASH)
        supplier = Supplier(brand_id=brand.id, code="sup", name="供货商")
        db.session.add_all([self.manager, supplier])
        db.session.flush()
        self.products = {}
        for sku in ("A", "B", "C"):
            price = rng.choice([rng.randrange(1, 200), rng.randrange(2000, 40000), rng.randrange(2000, 40000)])
            cost = rng.choice([0, rng.randrange(0, price + 1), rng.randrange(0, price * 2 + 2)])
            wholesale = rng.randrange(0, price + 1)
            db.session.add(Product(brand_id=brand.id, supplier_id=supplier.id, sku=sku, name=f"商品{sku}",
                                   category="cat" if sku != "C" else None, price_fen=price, supply_cost_fen=cost,
                                   wholesale_price_fen=wholesale, sells_promotion=True, sells_consignment=True,
                                   sells_wholesale=True))
            self.products[sku] = (price, cost, wholesale)
        db.session.flush()
        self.brand_id = brand.id
        self.brand = brand
        plan = random_plan(rng, 1)
        self.model = Model(plan)
        keys = []
        for i in range(rng.randrange(4, 9)):
            key = f"s{tag}p{i}"
            upline = rng.choice([None, *keys]) if keys else None
            distributor = rng.random() < 0.5
            user = User(brand_id=brand.id, role=Role.PROMOTER, name=f"推客{i}", phone=key, password_hash=PASSWORD_HASH)
            db.session.add(user)
            db.session.flush()
            promoter = Promoter(brand_id=brand.id, user_id=user.id, code=network.new_code(), distributor=distributor)
            network.place_under(promoter, db.session.get(Promoter, self.promoter_ids[upline]) if upline else None)
            db.session.add(promoter)
            db.session.flush()
            self.promoter_ids[key] = promoter.id
            self.model.add_promoter(key, upline, distributor)
            keys.append(key)
        db.session.commit()
        commission.save_plan(brand.id, plan.body(), "simulation")
        self.model.rules = random_rules(rng)
        withdrawal_rules.save(brand.id, self.model.rules.body())
        self.buyers = [f"b{tag}x{i}" for i in range(3)]
        self.step("setup")

    # ------------------------------------------------------------ running

    def run(self) -> Outcome:
        try:
            self.setup()
            for _ in range(self.rng.randrange(max(3, self.max_steps // 3), self.max_steps + 1)):
                self.random_operation()
            self.final_check()
        except Violation as err:
            self.outcome.violations.append(str(err))
        except Exception:  # noqa: BLE001 — any crash of a service is a finding too
            self.outcome.violations.append("crashed:\n" + traceback.format_exc(limit=8))
        finally:
            db.session.rollback()
        return self.outcome

    OPERATIONS = {"place": 24, "pay": 5, "complete": 12, "refund": 10, "cancel": 3, "settle": 8, "request": 3,
                  "decide": 2, "plan": 3, "rules": 1, "status": 2, "move": 3, "clock": 12}

    def random_operation(self) -> None:
        """A weighted choice that leans towards what the state makes possible, so that
        sequences reach settled money, withdrawals in flight and clawbacks, not only orders."""
        weights = dict(self.OPERATIONS)
        if any(self.model.balance("available", key) >= self.model.rules.min_fen for key in self.promoter_ids):
            weights["request"] += 16
        if any(w.status in ("requested", "approved") for w in self.model.withdrawals):
            weights["decide"] += 30
        if any(o.status == "paid" for o in self.model.orders.values()):
            weights["complete"] += 6
        if any(line.status == "frozen" for line in self.model.lines()):
            weights["settle"] += 4
        if any(not p.active for p in self.model.promoters.values()):
            weights["status"] += 3
        names = list(weights)
        getattr(self, f"op_{self.rng.choices(names, [weights[n] for n in names])[0]}")()

    def step(self, what: str) -> None:
        self.outcome.trail.append(what)
        self.outcome.operations += 1
        self.check(what)

    def expect(self, what: str, model_call, service_call):
        """Run the model and the service; they must agree on whether it is refused (and why)."""
        try:
            result = model_call()
        except Refused as refused:
            try:
                service_call()
            except ServiceError as err:
                db.session.rollback()
                if err.code != refused.code:
                    raise Violation(f"{what}: refused as {err.code}, the model says {refused.code}") from None
                self.outcome.refused += 1
                self.step(f"{what} refused ({err.code})")
                return None
            raise Violation(f"{what}: went through; the model refuses it ({refused.code})") from None
        try:
            value = service_call()
        except ServiceError as err:
            raise Violation(f"{what}: refused as {err.code} ({err.message}); the model accepts it") from None
        self.step(what)
        return result, value

    # ------------------------------------------------------------ operations

    def op_clock(self) -> None:
        self.now += timedelta(minutes=self.rng.choice([30, 60 * 5, 60 * 24, 60 * 24 * 3, 60 * 24 * 8, 60 * 24 * 16]))
        self.outcome.trail.append(f"clock {self.now.isoformat()}")

    def op_place(self) -> None:
        rng = self.rng
        mode = rng.choices(["promotion", "consignment", "wholesale"], [5, 3, 2])[0]
        seller = rng.choice(list(self.promoter_ids))
        skus = rng.sample(list(self.products), rng.choice([1, 1, 2]))
        items = []
        for sku in skus:
            price, cost, wholesale = self.products[sku]
            quantity = rng.randrange(1, 4)
            unit = wholesale if mode == "wholesale" else price
            items.append(MItem(sku, quantity, unit * quantity, cost * quantity))
        buyer = rng.choice(self.buyers) if rng.random() < 0.65 else rng.choice(list(self.promoter_ids))
        paid = rng.random() < 0.8
        self.orders_placed += 1
        key = f"o{self.orders_placed}"
        what = f"place {key} {mode} by {seller} for {buyer} {[(i.sku, i.quantity, i.paid) for i in items]} " \
               f"{'paid' if paid else 'unpaid'}"

        def service():
            order = orders.place_order(self.brand, orders.OrderInput(
                external_id=key, mode=mode, promoter_code=self._code(seller),
                items=[orders.ItemInput(i.sku, i.quantity) for i in items],
                buyer=orders.BuyerInput("买家", buyer), paid_at=self.now if paid else None,
                stock_purchase=True if mode == "wholesale" else None, placed_at=self.now))
            self.order_ids[key] = order.id
        self.expect(what, lambda: self.model.place(key, mode, seller, items, buyer, paid), service)

    def _code(self, key: str) -> str:
        return db.session.get(Promoter, self.promoter_ids[key]).code

    def _pick_order(self, statuses) -> str | None:
        keys = [k for k, o in self.model.orders.items() if o.status in statuses]
        return self.rng.choice(keys) if keys else None

    def op_pay(self) -> None:
        key = self._pick_order(("created",)) or self._pick_order(("paid", "completed"))
        if key is None:
            return
        self.expect(f"pay {key}", lambda: self.model.pay(key),
                    lambda: orders.mark_paid(self.brand_id, self.order_ids[key], self.now))

    def op_complete(self) -> None:
        key = (self._pick_order(("paid",)) if self.rng.random() < 0.8 else None) or \
            self._pick_order(("paid", "created", "completed"))
        if key is None:
            return
        self.expect(f"complete {key}", lambda: self.model.complete(key, self.now),
                    lambda: orders.complete(self.brand_id, self.order_ids[key], self.now))

    def op_refund(self) -> None:
        key = self._pick_order(("paid", "completed", "created", "cancelled"))
        if key is None:
            return
        order = self.model.orders[key]
        index = self.rng.randrange(len(order.items))
        item = order.items[index]
        left = item.paid - item.refunded
        amount = self.rng.choice([1, max(1, left // 3), max(1, left // 2), left, left + 1]) if left > 0 else 1
        refund_id = f"R{len(self.outcome.trail)}"
        self.expect(f"refund {key} {item.sku} {amount}", lambda: self.model.refund(key, index, amount),
                    lambda: orders.refund(self.brand_id, self.order_ids[key], refund_id,
                                          [orders.RefundItemInput(item.sku, amount)], at=self.now))

    def op_cancel(self) -> None:
        key = self._pick_order(("created", "paid", "completed"))
        if key is None:
            return
        self.expect(f"cancel {key}", lambda: self.model.cancel(key),
                    lambda: orders.cancel(self.brand_id, self.order_ids[key], "不要了", at=self.now))

    def op_settle(self) -> None:
        expected = self.model.settle(self.now)
        run = settlement.execute_run(settlement.start_run(self.brand_id, self.now, enqueue=False).id)
        if (run.settled_count, run.settled_fen) != expected:
            raise Violation(f"settle at {self.now}: settled {(run.settled_count, run.settled_fen)}, "
                            f"the model {expected}")
        self.step(f"settle {self.now.isoformat()} {expected}")

    def op_request(self) -> None:
        rng = self.rng
        least = self.model.rules.min_fen
        rich = [key for key in self.promoter_ids if self.model.balance("available", key) >= least]
        promoter = rng.choice(rich) if rich and rng.random() < 0.85 else rng.choice(list(self.promoter_ids))
        available = self.model.balance("available", promoter)
        amount = rng.choice([least, max(1, available), max(1, available), max(1, available // 2),
                             max(1, available // 3), available + 1, max(1, least - 1)])
        holder: dict = {}

        def model_call():
            holder["w"] = self.model.request(promoter, amount, self.now)

        def service():
            holder["id"] = withdrawals.request(self.promoter_ids[promoter], withdrawals.Request(
                amount, "alipay", "收款人", "pay@example.com"), now=self.now).id
        if self.expect(f"withdraw {promoter} {amount}", model_call, service) is not None:
            self.withdrawal_ids[id(holder["w"])] = holder["id"]
            holder["w"].db_id = holder["id"]

    def op_decide(self) -> None:
        live = [w for w in self.model.withdrawals if w.status in ("requested", "approved")]
        pool = live or self.model.withdrawals
        if not pool:
            return
        w: MWithdrawal = self.rng.choice(pool)
        action = {"requested": self.rng.choice(["approve", "approve", "approve", "reject", "paid"]),
                  "approved": self.rng.choice(["paid", "paid", "paid", "reject", "approve"])}.get(
            w.status, self.rng.choice(["approve", "reject", "paid"]))
        wid = self.withdrawal_ids[id(w)]
        calls = {
            "approve": (lambda: self.model.approve(w), lambda: withdrawals.approve(self.brand_id, wid)),
            "reject": (lambda: self.model.reject(w), lambda: withdrawals.reject(self.brand_id, wid, "资料不符")),
            "paid": (lambda: self.model.paid(w), lambda: withdrawals.mark_paid(self.brand_id, wid, f"T{wid}")),
        }
        model_call, service = calls[action]
        self.expect(f"{action} withdrawal {wid} of {w.promoter} ({w.status})", model_call, service)

    def op_plan(self) -> None:
        plan = random_plan(self.rng, max(v for v in self.model.plans if v is not None) + 1)
        commission.save_plan(self.brand_id, plan.body(), "simulation")
        self.model.save_plan(plan)
        self.step(f"plan v{plan.version} {plan}")

    def op_rules(self) -> None:
        rules = random_rules(self.rng)
        withdrawal_rules.save(self.brand_id, rules.body())
        self.model.rules = rules
        self.step(f"withdrawal rules {rules}")

    def op_status(self) -> None:
        suspended = [key for key, p in self.model.promoters.items() if not p.active]
        key = self.rng.choice(suspended) if suspended and self.rng.random() < 0.6 else \
            self.rng.choice(list(self.promoter_ids))
        action = "suspend" if self.model.promoters[key].active else "reactivate"
        self.expect(f"{action} {key}", lambda: self.model.set_active(key, action == "reactivate"),
                    lambda: network.change_status(self.manager, db.session.get(Promoter, self.promoter_ids[key]),
                                                  action, "模拟"))

    def op_move(self) -> None:
        key = self.rng.choice(list(self.promoter_ids))
        target = self.rng.choice([None, *self.promoter_ids])
        self.expect(f"move {key} under {target}", lambda: self.model.move(key, target),
                    lambda: network.move(self.manager, db.session.get(Promoter, self.promoter_ids[key]),
                                         self._code(target) if target else None))

    # ------------------------------------------------------------ checking

    def check(self, what: str) -> None:
        db.session.expire_all()
        model = self.model
        keys = {pid: key for key, pid in self.promoter_ids.items()}
        orders_by_id = {oid: key for key, oid in self.order_ids.items()}
        sku_index = {}
        rows = db.session.execute(
            select(CommissionLine, Order.id, OrderItem.sku)
            .join(Order, Order.id == CommissionLine.order_id).join(OrderItem, OrderItem.id == CommissionLine.order_item_id)
            .where(CommissionLine.brand_id == self.brand_id).order_by(CommissionLine.id)).all()
        actual = {}
        for line, order_id, sku in rows:
            order_key = orders_by_id[order_id]
            if order_key not in sku_index:
                sku_index[order_key] = {item.sku: i for i, item in enumerate(model.orders[order_key].items)}
            index = sku_index[order_key][sku]
            actual[(order_key, index, keys[line.promoter_id], line.level, line.kind)] = (line, )
        expected = {(m.order, m.item, m.promoter, m.level, m.kind): m for m in model.lines()}
        if set(actual) != set(expected):
            raise Violation(f"after {what}: lines {sorted(set(actual) ^ set(expected))} differ "
                            f"(database {len(actual)}, model {len(expected)})")
        for key, m in expected.items():
            line = actual[key][0]
            m.db_id = line.id
            got = (line.amount_fen, line.kept_fen, line.status.value, line.clawback_fen)
            want = (m.amount, m.kept, m.status, m.clawback)
            if got != want:
                raise Violation(f"after {what}: line {key} is {got}, the model says {want}")
        books = {}
        for kind, owner, total in db.session.execute(
            select(LedgerAccount.kind, LedgerAccount.owner_id, func.sum(LedgerEntry.amount_fen))
            .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
            .where(LedgerAccount.brand_id == self.brand_id).group_by(LedgerAccount.kind, LedgerAccount.owner_id)
        ):
            owner_key = keys.get(owner, "") if kind in (AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE,
                                                       AccountKind.PROMOTER_PENDING_WITHDRAWAL,
                                                       AccountKind.PAID_OUT) else ""
            name = ACCOUNT_NAMES[kind]
            books[(name, owner_key)] = books.get((name, owner_key), 0) + int(total)
        wanted = {k: v for k, v in model.accounts.items() if v}
        got = {k: v for k, v in books.items() if v}
        if got != wanted:
            diff = {k: (got.get(k, 0), wanted.get(k, 0)) for k in set(got) | set(wanted) if got.get(k) != wanted.get(k)}
            raise Violation(f"after {what}: balances (database, model) differ: {diff}")
        report = verify(self.brand_id, reprice=False)
        if not report.ok:
            raise Violation(f"after {what}: ledger verify: {report.violations[:5]}")

    def final_check(self) -> None:
        report = verify(self.brand_id)
        if not report.ok:
            raise Violation(f"at the end: ledger verify: {report.violations[:5]}")
        statuses = {key: db.session.get(Promoter, pid).status for key, pid in self.promoter_ids.items()}
        for key, status in statuses.items():
            if (status == PromoterStatus.ACTIVE) != self.model.promoters[key].active:
                raise Violation(f"promoter {key} is {status.value}")


def run_sequences(seeds, max_steps: int = 60, on_outcome=None) -> list[Outcome]:
    """Run the sequences of these seeds (inside an app context); returns every outcome."""
    outcomes = []
    for seed in seeds:
        outcome = Simulation(seed, max_steps).run()
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes
