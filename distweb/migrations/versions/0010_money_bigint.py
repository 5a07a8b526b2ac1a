"""money and quantities as 64-bit integers: every amount of fen, quantity and stock movement
that was still a 32-bit INTEGER on PostgreSQL (an order of 1,000,000 × ¥50 is 5×10^9 fen,
past 2^31 − 1). SQLite's integers are 64-bit already; its columns are declared BIGINT too,
so the schema agrees with the models on both.

Revision ID: b1f0a64e2c10
Revises: 9a4c7e2b5d61
Create Date: 2026-12-06 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'b1f0a64e2c10'
down_revision = '9a4c7e2b5d61'
branch_labels = None
depends_on = None


# (table, [(column, nullable)]) — the columns the models declare BigInteger; the ledger's
# entries and settlement runs' settled_fen were 64-bit already.
COLUMNS = [
    ('products', [('price_fen', False), ('supply_cost_fen', False), ('wholesale_price_fen', False)]),
    ('orders', [('refunded_fen', False), ('total_paid_fen', False)]),
    ('order_items', [('quantity', False), ('unit_price_fen', False), ('paid_fen', False),
                     ('supply_cost_fen', False), ('refunded_fen', False)]),
    ('refunds', [('amount_fen', False)]),
    ('refund_lines', [('amount_fen', False)]),
    ('purchase_orders', [('total_cost_fen', False)]),
    ('purchase_order_lines', [('quantity', False), ('cost_fen', False)]),
    ('stock_levels', [('quantity', False)]),
    ('stock_movements', [('delta', False)]),
    ('commission_lines', [('amount_fen', False), ('reversed_fen', False), ('clawback_fen', False)]),
    ('withdrawals', [('amount_fen', False), ('fee_fen', False), ('net_fen', False)]),
    ('statements', [('opening_fen', True), ('closing_fen', True)]),
]


def _alter(old: sa.types.TypeEngine, new: sa.types.TypeEngine, new_sql: str) -> None:
    if op.get_bind().dialect.name == 'postgresql':
        # One ALTER TABLE per table: PostgreSQL rewrites the table (and its indexes) once for
        # all its columns, not once per column.
        for table, columns in COLUMNS:
            clauses = ', '.join(f'ALTER COLUMN {column} TYPE {new_sql}' for column, _nullable in columns)
            op.execute(f'ALTER TABLE {table} {clauses}')
        return
    for table, columns in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, nullable in columns:
                batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=nullable)


def upgrade():
    _alter(sa.Integer(), sa.BigInteger(), 'BIGINT')


def downgrade():
    # Refused by PostgreSQL if any value no longer fits 32 bits (nothing is truncated).
    _alter(sa.BigInteger(), sa.Integer(), 'INTEGER')
