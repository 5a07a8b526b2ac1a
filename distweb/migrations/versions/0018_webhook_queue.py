"""webhook queue: events are stored as they arrive (queued) and applied by workers, lane by
lane (a hash of the order's external id); a failed event is tried again at next_attempt_at
(back-off), then parked as a dead letter (dead) that a manager retries or drops (dropped)

Revision ID: 9b4e7d2c1a05
Revises: 7b3e9d2a5c14
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '9b4e7d2c1a05'
down_revision = '7b3e9d2a5c14'
branch_labels = None
depends_on = None

OLD = ('applied', 'held', 'rejected', 'failed', 'duplicate')
NEW = ('queued', 'applied', 'held', 'rejected', 'failed', 'dead', 'dropped', 'duplicate')


def _status_check(values) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lane', sa.SmallInteger(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_webhook_events_webhook_status'), type_='check')
        batch_op.create_check_constraint('webhook_status', _status_check(NEW))
        batch_op.create_index('ix_webhook_events_queue', ['status', 'lane', 'id'], unique=False)
    # Failed events out of tries waited for a manager: they are dead letters now.
    op.execute("UPDATE webhook_events SET status = 'dead' WHERE status = 'failed' AND attempts >= 10")


def downgrade():
    op.execute("UPDATE webhook_events SET status = 'held' WHERE status = 'queued'")
    op.execute("UPDATE webhook_events SET status = 'failed', attempts = 10 WHERE status = 'dead'")
    op.execute("UPDATE webhook_events SET status = 'rejected' WHERE status = 'dropped'")
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_events_queue')
        batch_op.drop_constraint(op.f('ck_webhook_events_webhook_status'), type_='check')
        batch_op.create_check_constraint('webhook_status', _status_check(OLD))
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('lane')
