"""one money path: promoters.distributor (分销商) and joined_at imports; ledger transactions
carry their business time (occurred_at); PostgreSQL refuses an unbalanced ledger transaction
at commit and any edit of a ledger entry; one depth setting (the plan's): the programme
settings' commission_depth goes; withdrawal rules in the API's shape

Revision ID: 9a4c7e2b5d61
Revises: 8d3e5a1c9f20
Create Date: 2026-12-06 03:00:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = '9a4c7e2b5d61'
down_revision = '8d3e5a1c9f20'
branch_labels = None
depends_on = None


# django-hordak's idea ("database triggers"): the database itself refuses a transaction whose
# legs do not sum to zero, whatever code wrote them. A per-row check would sum a transaction
# once per entry (quadratic for a settlement batch of thousands of entries), so one statement
# trigger queues the transactions an INSERT touched, and a deferred constraint trigger checks
# each queued transaction once, at commit.
PG_UP = """
CREATE FUNCTION distweb_ledger_queue_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_balance_checks (transaction_id)
    SELECT DISTINCT transaction_id FROM new_entries
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_queue_balance_check
    AFTER INSERT ON ledger_entries REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION distweb_ledger_queue_check();

CREATE FUNCTION distweb_ledger_check_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total NUMERIC;
BEGIN
    SELECT COALESCE(SUM(amount_fen), 0) INTO total FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
    DELETE FROM ledger_balance_checks WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its entries sum to %', NEW.transaction_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_balance_checked_at_commit
    AFTER INSERT ON ledger_balance_checks DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION distweb_ledger_check_balance();

CREATE FUNCTION distweb_ledger_entries_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are never edited; post a reversing transaction'
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER ledger_entries_never_edited
    BEFORE UPDATE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION distweb_ledger_entries_immutable();
"""

PG_DOWN = """
DROP TRIGGER IF EXISTS ledger_entries_never_edited ON ledger_entries;
DROP FUNCTION IF EXISTS distweb_ledger_entries_immutable();
DROP TRIGGER IF EXISTS ledger_balance_checked_at_commit ON ledger_balance_checks;
DROP FUNCTION IF EXISTS distweb_ledger_check_balance();
DROP TRIGGER IF EXISTS ledger_entries_queue_balance_check ON ledger_entries;
DROP FUNCTION IF EXISTS distweb_ledger_queue_check();
"""


def _withdrawal_rules_in_api_shape(bind) -> None:
    """{min_fen, fee_bp, fee_fixed_fen, methods, daily_limit_fen, auto_approve} becomes
    docs/API.md's {min_fen, fee_bp, fee_min_fen, daily_limit_fen, methods,
    auto_approve_below_fen}. A fixed fee becomes the fee minimum (the nearest rule the new
    shape has); "approve everything automatically" becomes "below any amount"."""
    rows = bind.execute(sa.text("SELECT brand_id, withdrawal FROM programme_settings")).all()
    for brand_id, raw in rows:
        old = raw if isinstance(raw, dict) else json.loads(raw or "{}") if raw else {}
        if not old:
            continue
        new = {key: old[key] for key in ("min_fen", "fee_bp", "methods", "daily_limit_fen") if key in old}
        new["fee_min_fen"] = int(old.get("fee_min_fen", old.get("fee_fixed_fen", 0)) or 0)
        if "auto_approve_below_fen" in old:
            new["auto_approve_below_fen"] = old["auto_approve_below_fen"]
        else:
            new["auto_approve_below_fen"] = 2**53 if old.get("auto_approve") else None
        bind.execute(sa.text("UPDATE programme_settings SET withdrawal = :w WHERE brand_id = :b"),
                     {"w": json.dumps(new), "b": brand_id})


def upgrade():
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"

    with op.batch_alter_table('promoters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('distributor', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True))
    # Business time of what is on the books already: an accrual at its order's payment, a
    # settlement at its run's as_of, anything else when it was written (the best known).
    op.execute("""
        UPDATE ledger_transactions SET occurred_at = COALESCE(
            CASE WHEN kind = 'accrual' THEN (SELECT paid_at FROM orders WHERE orders.id = ledger_transactions.order_id)
                 WHEN kind = 'settlement' THEN (SELECT as_of FROM settlement_runs
                                                WHERE 'run:' || CAST(settlement_runs.id AS VARCHAR) = ledger_transactions.reference)
            END, created_at)
    """)
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.alter_column('occurred_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_ledger_tx_brand_occurred', ['brand_id', 'occurred_at'], unique=False)

    op.create_table('ledger_balance_checks',
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_ledger_balance_checks'))
    )

    with op.batch_alter_table('programme_settings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_programme_settings_depth_1_to_3'), type_='check')
        batch_op.drop_column('commission_depth')

    _withdrawal_rules_in_api_shape(bind)

    if postgresql:
        op.execute(PG_UP)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(PG_DOWN)
    with op.batch_alter_table('programme_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commission_depth', sa.Integer(), server_default='2', nullable=False))
        batch_op.create_check_constraint('depth_1_to_3', 'commission_depth BETWEEN 1 AND 3')
    op.drop_table('ledger_balance_checks')
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_tx_brand_occurred')
        batch_op.drop_column('occurred_at')
    with op.batch_alter_table('promoters', schema=None) as batch_op:
        batch_op.drop_column('distributor')
