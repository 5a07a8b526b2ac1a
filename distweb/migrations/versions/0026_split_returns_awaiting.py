"""split returns awaiting their split's outcome: a refund made while the order's split was
in flight or unanswered records its return as ``awaiting`` (made and sent once the split
turns out paid) or ``void`` (the split paid no one, or the refund failed)

Revision ID: 7b3e9c1d5f42
Revises: 6a1d3f8c2e47
Create Date: 2026-12-06 17:40:00
"""

from alembic import op

revision = '7b3e9c1d5f42'
down_revision = '6a1d3f8c2e47'
branch_labels = None
depends_on = None

OLD = ('waiting', 'pending', 'succeeded', 'failed', 'manual')
NEW = OLD + ('awaiting', 'void')


def _status_check(values) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with op.batch_alter_table('split_returns', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_split_returns_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', _status_check(NEW))


def downgrade():
    # A return still awaiting its split, or void, has nothing sent: it goes with the statuses.
    op.execute("DELETE FROM split_returns WHERE status IN ('awaiting', 'void')")
    with op.batch_alter_table('split_returns', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_split_returns_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', _status_check(OLD))
