"""Data migrations carry existing rows forward (on a SQLite file of their own)."""

from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from distweb import create_app
from distweb.extensions import db, limiter

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "distweb" / "migrations")


@pytest.fixture
def fresh_app(app, tmp_path):
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.sqlite3'}"})
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
    limiter.init_app(app)  # the second app borrowed the shared limiter; hand it back


def test_0002_fills_repeated_ancestors_and_the_l1_position(fresh_app):
    with fresh_app.app_context():
        upgrade(directory=MIGRATIONS, revision="f37bfb68f25b")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO brands (id, name, short_name, theme_color, timezone, created_at, updated_at) "
                              "VALUES (1, 'B', 'B', '#000000', 'Asia/Shanghai', '2026-01-01', '2026-01-01')"))
            for uid in range(1, 5):
                conn.execute(text("INSERT INTO users (id, brand_id, role, name, phone, password_hash, is_enabled, "
                                  "created_at, password_changed_at) VALUES (:id, 1, 'promoter', 'u', :phone, 'x', 1, "
                                  "'2026-01-01', '2026-01-01')"), {"id": uid, "phone": f"1380000000{uid}"})
                conn.execute(text("INSERT INTO promoters (id, brand_id, user_id, code, upline_id, rank, status, joined_at) "
                                  "VALUES (:id, 1, :id, :code, :up, 'promoter', 'active', '2026-01-01')"),
                             {"id": uid, "code": f"C{uid}", "up": uid - 1 if uid > 1 else None})
            conn.execute(text("INSERT INTO orders (id, brand_id, external_id, mode, status, promoter_id, total_paid_fen, "
                              "placed_at) VALUES (1, 1, 'E1', 'promotion', 'paid', 4, 100, '2026-01-01')"))
        upgrade(directory=MIGRATIONS)
        rows = db.session.execute(text("SELECT id, upline_id, upline2_id, upline3_id FROM promoters ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, None, None, None), (2, 1, None, None), (3, 2, 1, None), (4, 3, 2, 1)]
        assert db.session.execute(text("SELECT chain_l1_id FROM orders")).scalar() == 4


def test_0014_sms_codes_goes_up_down_and_up_again(fresh_app):
    from flask_migrate import downgrade
    from sqlalchemy import inspect

    with fresh_app.app_context():
        upgrade(directory=MIGRATIONS)
        assert "sms_codes" in inspect(db.engine).get_table_names()
        with db.engine.begin() as conn:  # the database refuses a purpose it does not know
            conn.execute(text("INSERT INTO sms_codes (purpose, phone_key, salt, code_hash, status, provider, "
                              "attempts, created_at, expires_at) VALUES ('signup', 'k', 's', 'h', 'sent', "
                              "'console', 0, '2026-01-01', '2026-01-01')"))
        with pytest.raises(Exception, match="CHECK constraint"), db.engine.begin() as conn:
            conn.execute(text("INSERT INTO sms_codes (purpose, phone_key, salt, code_hash, status, provider, "
                              "attempts, created_at, expires_at) VALUES ('login', 'k', 's', 'h', 'sent', "
                              "'console', 0, '2026-01-01', '2026-01-01')"))
        downgrade(directory=MIGRATIONS, revision="e5b7a9c3d104")
        assert "sms_codes" not in inspect(db.engine).get_table_names()
        assert "data_versions" in inspect(db.engine).get_table_names()
        upgrade(directory=MIGRATIONS)
        assert "sms_codes" in inspect(db.engine).get_table_names()


def test_0018_webhook_queue_parks_exhausted_failures_and_goes_down_and_up_again(fresh_app):
    from flask_migrate import downgrade

    insert = text("INSERT INTO webhook_events (id, brand_id, event_id, type, order_external_id, status, payload, "
                  "received_at, attempted_at, attempts) VALUES (:id, 1, :event, 'order.completed', 'E1', :status, "
                  "'{}', '2026-01-01', '2026-01-01', :attempts)")
    with fresh_app.app_context():
        upgrade(directory=MIGRATIONS, revision="7b3e9d2a5c14")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO brands (id, name, short_name, theme_color, timezone, created_at, updated_at) "
                              "VALUES (1, 'B', 'B', '#000000', 'Asia/Shanghai', '2026-01-01', '2026-01-01')"))
            conn.execute(insert, {"id": 1, "event": "out-of-tries", "status": "failed", "attempts": 10})
            conn.execute(insert, {"id": 2, "event": "tries-left", "status": "failed", "attempts": 3})
            conn.execute(insert, {"id": 3, "event": "waiting", "status": "held", "attempts": 1})
        upgrade(directory=MIGRATIONS, revision="9b4e7d2c1a05")
        rows = db.session.execute(text("SELECT event_id, status, lane, next_attempt_at FROM webhook_events ORDER BY id"))
        assert [tuple(r) for r in rows] == [("out-of-tries", "dead", 0, None), ("tries-left", "failed", 0, None),
                                            ("waiting", "held", 0, None)]
        db.session.execute(text("UPDATE webhook_events SET status = 'queued' WHERE id = 3"))
        db.session.commit()
        downgrade(directory=MIGRATIONS, revision="7b3e9d2a5c14")
        rows = db.session.execute(text("SELECT event_id, status, attempts FROM webhook_events ORDER BY id"))
        assert [tuple(r) for r in rows] == [("out-of-tries", "failed", 10), ("tries-left", "failed", 3),
                                            ("waiting", "held", 1)]
        db.session.commit()
        upgrade(directory=MIGRATIONS)
        assert db.session.execute(text("SELECT status FROM webhook_events WHERE id = 1")).scalar() == "dead"


# A brand, two promoters (7, 8), a product, four orders with an item each (line n on item
# n), a payment per order: what commission lines and splits point at.
PARENTS = [
    "INSERT INTO brands (id, name, short_name, theme_color, timezone, created_at, updated_at) "
    "VALUES (1, 'B', 'B', '#000000', 'Asia/Shanghai', '2026-01-01', '2026-01-01')",
    *(f"INSERT INTO users (id, brand_id, role, name, password_hash, is_enabled, created_at, password_changed_at) "
      f"VALUES ({n}, 1, 'promoter', 'P{n}', 'x', 1, '2026-01-01', '2026-01-01')" for n in (7, 8)),
    *(f"INSERT INTO promoters (id, brand_id, user_id, code, rank, status, joined_at) "
      f"VALUES ({n}, 1, {n}, 'CODE{n}', 'promoter', 'active', '2026-01-01')" for n in (7, 8)),
    "INSERT INTO products (id, brand_id, sku, name, price_fen, supply_cost_fen, wholesale_price_fen, "
    "sells_promotion, sells_consignment, sells_wholesale, active, created_at) "
    "VALUES (1, 1, 'T', 'T', 1000, 0, 0, 1, 0, 0, 1, '2026-01-01')",
    *(f"INSERT INTO orders (id, brand_id, external_id, mode, status, total_paid_fen, placed_at) "
      f"VALUES ({n}, 1, 'E{n}', 'promotion', 'completed', 1000, '2026-01-01')" for n in (1, 2, 3, 4)),
    *(f"INSERT INTO order_items (id, order_id, product_id, sku, name, quantity, unit_price_fen, paid_fen, "
      f"supply_cost_fen) VALUES ({n}, {o}, 1, 'T', 'T', 1, 1000, 1000, 0)"
      for n, o in ((1, 1), (2, 2), (3, 2), (4, 3), (5, 4))),
    *(f"INSERT INTO payments (id, brand_id, order_id, provider, channel, out_trade_no, amount_fen, status, action, "
      f"created_at) VALUES ({n}, 1, {n}, 'wechat', 'native', 'P{n}', 1000, 'paid', '{{}}', '2026-01-01')"
      for n in (1, 2, 3, 4)),
]


def test_0023_marks_lines_a_split_paid_and_goes_down_and_up_again(fresh_app):
    """Lines a succeeded split (or a paid part of one paid in part) already paid out become
    split_paid; the rest stay as they were; down, split_paid lines are available again."""
    import json

    from flask_migrate import downgrade

    line = ("INSERT INTO commission_lines (id, brand_id, order_id, order_item_id, promoter_id, level, kind, "
                "amount_fen, reversed_fen, clawback_fen, status, created_at, settled_at) VALUES (:id, 1, :order, "
                ":id, :promoter, 1, 'commission', 100, 0, 0, :status, '2026-01-01', '2026-01-02')")
    split = ("INSERT INTO profit_splits (id, brand_id, order_id, payment_id, provider, out_no, amount_fen, "
                 "receivers, status, attempts, created_at, next_try_at) VALUES (:id, 1, :id, :id, 'wechat', :out_no, "
                 "100, :receivers, :status, :attempts, '2026-01-03', '2026-01-03')")

    def part(promoter, lines, result=None, manual=None):
        found = {"kind": "promoter", "promoter_id": promoter, "line_ids": lines, "account": f"o{promoter}",
                 "account_type": "PERSONAL_OPENID", "amount_fen": 100}
        found.update({k: v for k, v in (("result", result), ("manual", manual)) if v})
        return found

    with fresh_app.app_context():
        upgrade(directory=MIGRATIONS, revision="3c8f1e6a9d21")
        with db.engine.begin() as conn:
            for sql in PARENTS:
                conn.execute(text(sql))
            for n, (order, promoter, status) in enumerate([(1, 7, "available"), (2, 7, "available"),
                                                           (2, 8, "available"), (3, 7, "available"),
                                                           (4, 7, "paid_out")], start=1):
                conn.execute(text(line), {"id": n, "order": order, "promoter": promoter, "status": status})
            for sid, status, receivers in [
                    (1, "succeeded", [part(7, [1])]),
                    (2, "failed", [part(7, [2], "SUCCESS"), part(8, [3], "CLOSED")]),
                    (3, "pending", [part(7, [4])]),
                    (4, "succeeded", [part(7, [5])])]:
                conn.execute(text(split), {"id": sid, "out_no": f"S{sid}", "receivers": json.dumps(receivers),
                                           "status": status, "attempts": 0 if status == "pending" else 1})
        upgrade(directory=MIGRATIONS)
        rows = db.session.execute(text("SELECT id, status FROM commission_lines ORDER BY id"))
        assert [tuple(r) for r in rows] == [(1, "split_paid"), (2, "split_paid"), (3, "available"),
                                            (4, "available"), (5, "paid_out")]
        rows = db.session.execute(text("SELECT id, sent_at IS NOT NULL, earlier_out_nos FROM profit_splits ORDER BY id"))
        assert [(i, bool(sent), json.loads(earlier)) for i, sent, earlier in rows] == [
            (1, True, []), (2, True, []), (3, False, []), (4, True, [])]
        db.session.commit()
        downgrade(directory=MIGRATIONS, revision="3c8f1e6a9d21")
        rows = db.session.execute(text("SELECT id, status FROM commission_lines ORDER BY id"))
        assert [tuple(r) for r in rows] == [(1, "available"), (2, "available"), (3, "available"),
                                            (4, "available"), (5, "paid_out")]
        db.session.commit()
        upgrade(directory=MIGRATIONS)
        with pytest.raises(Exception, match="CHECK constraint"), db.engine.begin() as conn:
            conn.execute(text("UPDATE commission_lines SET status = 'lost' WHERE id = 1"))


def test_0025_moves_the_cancelling_mark_out_of_the_failure_column_and_back(fresh_app):
    """A pending WeChat transfer marked 撤销中 in its failure column gets cancel_requested_at
    (its failure cleared); a failed one keeps its reason (已撤销); down, the mark comes back."""
    from flask_migrate import downgrade

    payout = ("INSERT INTO provider_payouts (id, brand_id, withdrawal_id, provider, out_no, amount_fen, status, "
              "failure, created_at) VALUES (:id, 1, 1, 'wechat', :out_no, 500, :status, :failure, '2026-01-01')")
    with fresh_app.app_context():
        upgrade(directory=MIGRATIONS, revision="4c8e2f6a9d31")
        with db.engine.begin() as conn:
            for sql in PARENTS[:5]:  # the brand, users and promoters
                conn.execute(text(sql))
            conn.execute(text("INSERT INTO withdrawals (id, brand_id, promoter_id, amount_fen, fee_fen, net_fen, "
                              "method, account_name, account_no, status, created_at) VALUES (1, 1, 7, 500, 0, 500, "
                              "'wechat', 'P7', 'oP7', 'approved', '2026-01-01')"))
            for n, status, failure in ((1, "pending", "撤销中"), (2, "pending", None), (3, "failed", "已撤销")):
                conn.execute(text(payout), {"id": n, "out_no": f"T{n}", "status": status, "failure": failure})
        upgrade(directory=MIGRATIONS)
        rows = db.session.execute(text("SELECT id, failure, cancel_requested_at IS NOT NULL FROM provider_payouts "
                                       "ORDER BY id"))
        assert [(i, f, bool(c)) for i, f, c in rows] == [(1, None, True), (2, None, False), (3, "已撤销", False)]
        db.session.commit()
        downgrade(directory=MIGRATIONS, revision="4c8e2f6a9d31")
        rows = db.session.execute(text("SELECT id, failure FROM provider_payouts ORDER BY id"))
        assert [tuple(r) for r in rows] == [(1, "撤销中"), (2, None), (3, "已撤销")]
