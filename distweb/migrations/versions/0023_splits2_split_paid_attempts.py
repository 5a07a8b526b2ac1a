"""splits2: commission lines paid by a provider's 分账 (line status split_paid), and a
split's attempts (when its out_no was sent; the out_nos of earlier attempts)

Revision ID: 9d2b7e4f1a63
Revises: 3c8f1e6a9d21
Create Date: 2026-12-06 15:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9d2b7e4f1a63'
down_revision = '3c8f1e6a9d21'
branch_labels = None
depends_on = None

OLD = ('frozen', 'available', 'paid_out', 'reversed')
NEW = OLD + ('split_paid',)


def _status_check(values) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with op.batch_alter_table('commission_lines', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_commission_lines_line_status'), type_='check')
        batch_op.create_check_constraint('line_status', _status_check(NEW))
    with op.batch_alter_table('profit_splits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('earlier_out_nos', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    # Splits made so far were sent when they were tried.
    op.execute("UPDATE profit_splits SET sent_at = created_at WHERE attempts > 0 OR status <> 'pending'")
    # Lines a provider's 分账 already paid out were left available: their promoters' parts
    # of succeeded splits (and paid parts of splits paid in part).
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT status, receivers FROM profit_splits WHERE status IN ('succeeded', 'failed')"))
    import json

    paid = []
    for status, receivers in rows:
        parts = json.loads(receivers) if isinstance(receivers, str) else (receivers or [])
        for part in parts:
            if part.get('kind') == 'promoter' and not part.get('manual') and (
                    status == 'succeeded' or part.get('result') == 'SUCCESS'):
                paid.extend(int(i) for i in part.get('line_ids') or [])
    for line_id in paid:
        bind.execute(sa.text("UPDATE commission_lines SET status = 'split_paid' WHERE id = :id AND status = 'available'"),
                     {"id": line_id})


def downgrade():
    op.execute("UPDATE commission_lines SET status = 'available' WHERE status = 'split_paid'")
    with op.batch_alter_table('profit_splits', schema=None) as batch_op:
        batch_op.drop_column('earlier_out_nos')
        batch_op.drop_column('sent_at')
    with op.batch_alter_table('commission_lines', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_commission_lines_line_status'), type_='check')
        batch_op.create_check_constraint('line_status', _status_check(OLD))
