"""Migrations are code: one head, and the models agree with what the migrations build."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from distweb.extensions import db

MIGRATIONS = Path(__file__).resolve().parents[2] / "distweb" / "migrations"


def test_migrations_have_a_single_head():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"


def test_models_and_migrations_agree(app_ctx):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models differ from the migrated schema; run `distweb db migrate`: {diff}"


def test_sqlite_runs_with_foreign_keys_and_wal(app_ctx):
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_the_database_refuses_a_refund_beyond_what_was_paid(app_ctx, make):
    """Check constraints are in the migrated schema, not only in the models."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    promoter = make.promoter()
    order = make.order(promoter, make.product(price_fen=1000))
    with pytest.raises(IntegrityError):
        db.session.execute(text("UPDATE orders SET refunded_fen = total_paid_fen + 1 WHERE id = :id"), {"id": order.id})
        db.session.flush()
    db.session.rollback()
