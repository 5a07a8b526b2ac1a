"""The command line scripts rely on."""

from sqlalchemy import func, select

from distweb.extensions import db
from distweb.models import ApiKey, Brand, Order, Product, Promoter, User
from distweb.models.order import OrderMode
from distweb.services import api_keys


def test_init_creates_brand_and_manager_once(runner, app):
    args = ["init", "--brand", "山茶集", "--manager-email", "boss@shancha.cn", "--manager-password", "secret123"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0 and "created" in first.output
    second = runner.invoke(args=args)
    assert second.exit_code == 0 and "already set up" in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Brand.id))) == 1
        assert db.session.scalar(select(func.count(User.id))) == 1


def test_init_refuses_a_weak_password(runner, app):
    result = runner.invoke(args=["init", "--brand", "B", "--manager-email", "a@b.cn", "--manager-password", "123"])
    assert result.exit_code != 0 and "密码至少需要" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Brand.id))) == 0  # nothing half-written


def test_api_key_create_prints_only_the_key_and_stores_its_hash(runner, app):
    runner.invoke(args=["init", "--brand", "B", "--manager-email", "a@b.cn", "--manager-password", "secret123"])
    result = runner.invoke(args=["api-key", "create", "--name", "有赞商城"])
    assert result.exit_code == 0
    key = result.stdout.strip()
    assert result.stdout == key + "\n" and key.startswith("dw_live_")  # only the key on stdout
    assert "whsec_" in result.stderr  # the webhook secret goes to stderr, for the operator
    with app.app_context():
        row = db.session.scalars(select(ApiKey)).one()
        assert row.name == "有赞商城" and key not in (row.key_hash, row.prefix)
        assert api_keys.key_for(key).id == row.id
        assert api_keys.key_for(key + "x") is None


def test_demo_loads_a_believable_three_level_network_and_three_modes(runner, app):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0 and "13800000001" in result.output
    with app.app_context():
        assert 18 <= db.session.scalar(select(func.count(Product.id))) <= 25
        assert db.session.scalar(select(func.count(Promoter.id))) == 50
        modes = set(db.session.scalars(select(Order.mode).distinct()))
        assert modes == set(OrderMode)
        assert db.session.scalar(select(func.count(Order.id))) >= 200
        # three levels: someone's upline has an upline
        deep = db.session.scalar(
            select(func.count(Promoter.id)).where(
                Promoter.upline_id.in_(select(Promoter.id).where(Promoter.upline_id.is_not(None)))
            )
        )
        assert deep > 0
        # every order's total equals the sum of its lines, to the fen
        for order in db.session.scalars(select(Order)):
            assert order.total_paid_fen == sum(item.paid_fen for item in order.items)
        # a material library with pictures, one pinned
        from distweb.models import Material, MaterialImage

        assert db.session.scalar(select(func.count(Material.id))) == 5
        assert db.session.scalar(select(func.count(Material.id)).where(Material.pinned.is_(True))) == 1
        assert db.session.scalar(select(func.count(MaterialImage.id))) == 5
    again = runner.invoke(args=["demo", "--if-empty"])
    assert "already has data" in again.output


def test_demo_has_distributors_and_plain_promoters_and_only_distributors_hold_stock(runner, app):
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        promoters = {p.id: p for p in db.session.scalars(select(Promoter))}
        demo_login = db.session.scalars(select(User).where(User.phone == "13800000001")).one().promoter
        assert demo_login.distributor
        distributors = {pid for pid, p in promoters.items() if p.distributor}
        plain = set(promoters) - distributors
        assert distributors and plain
        assert {promoters[pid].rank.value for pid in plain} >= {"mentor", "promoter"}
        # plain promoters sell (promotion orders) ...
        sellers = set(db.session.scalars(select(Order.promoter_id).where(Order.mode == OrderMode.PROMOTION)))
        assert sellers & plain
        # ... and only distributors buy and sell wholesale stock or sell on consignment from their shop
        stockists = set(db.session.scalars(select(Order.distributor_id).where(Order.mode == OrderMode.WHOLESALE)))
        assert stockists and stockists <= distributors
        consigned = set(db.session.scalars(select(Order.promoter_id).where(
            Order.mode == OrderMode.CONSIGNMENT, Order.attribution_source == "shop")))
        assert consigned and consigned <= distributors


def test_ledger_verify_passes_on_the_demo_and_fails_on_a_tampered_entry(runner, app):
    runner.invoke(args=["demo"])
    ok = runner.invoke(args=["ledger", "verify"])
    assert ok.exit_code == 0 and "ledger ok" in ok.output
    with app.app_context():
        from sqlalchemy import text

        from distweb.models import LedgerEntry

        entry = db.session.query(LedgerEntry).order_by(LedgerEntry.id).first()
        if db.engine.dialect.name == "postgresql":
            # What "entries are never edited" protects against needs the database's guard off
            # first (a superuser's deliberate act, as a tamperer's would be).
            db.session.execute(text("ALTER TABLE ledger_entries DISABLE TRIGGER USER"))
        entry.amount_fen += 1
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ALTER TABLE ledger_entries ENABLE TRIGGER USER"))
            db.session.commit()
    bad = runner.invoke(args=["ledger", "verify"])
    assert bad.exit_code == 1 and "does not balance" in bad.output
