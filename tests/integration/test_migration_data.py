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
