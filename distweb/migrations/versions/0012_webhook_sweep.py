"""webhook events: attempts and the last attempt's time (the workers' sweep retries what
still waits), and two more statuses: failed (applying broke; retried) and duplicate (its
change had been made already)

Revision ID: d3f2c86a4e32
Revises: c2e1b75f3d21
Create Date: 2026-12-08 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'd3f2c86a4e32'
# At merge: after 0010 (b1f0a64e2c10), which this branch does not have.
down_revision = 'c2e1b75f3d21'
branch_labels = None
depends_on = None

OLD = ('applied', 'held', 'rejected')
NEW = OLD + ('failed', 'duplicate')


def _status_check(values) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_webhook_events_webhook_status'), type_='check')
        batch_op.create_check_constraint('webhook_status', _status_check(NEW))
    # Every event so far was tried once, when it arrived.
    op.execute("UPDATE webhook_events SET attempted_at = received_at, attempts = 1")
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.alter_column('attempted_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_webhook_events_status_attempted', ['status', 'attempted_at'], unique=False)


def downgrade():
    op.execute("UPDATE webhook_events SET status = 'held' WHERE status = 'failed'")
    op.execute("UPDATE webhook_events SET status = 'applied' WHERE status = 'duplicate'")
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_events_status_attempted')
        batch_op.drop_constraint(op.f('ck_webhook_events_webhook_status'), type_='check')
        batch_op.create_check_constraint('webhook_status', _status_check(OLD))
        batch_op.drop_column('attempted_at')
        batch_op.drop_column('attempts')
