"""payouts: a WeChat transfer being cancelled (撤销中) is marked by when the cancel was asked
(provider_payouts.cancel_requested_at) instead of a word in its failure column

Revision ID: 6a1d3f8c2e47
Revises: 4c8e2f6a9d31
Create Date: 2026-12-06 17:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '6a1d3f8c2e47'
down_revision = '4c8e2f6a9d31'
branch_labels = None
depends_on = None

CANCELING = '撤销中'


def upgrade():
    with op.batch_alter_table('provider_payouts') as batch:
        batch.add_column(sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True))
    payouts = sa.table('provider_payouts', sa.column('status', sa.String), sa.column('failure', sa.String),
                       sa.column('cancel_requested_at', sa.DateTime))
    op.execute(payouts.update().where(payouts.c.status == 'pending', payouts.c.failure == CANCELING)
               .values(cancel_requested_at=sa.func.current_timestamp(), failure=None))


def downgrade():
    payouts = sa.table('provider_payouts', sa.column('status', sa.String), sa.column('failure', sa.String),
                       sa.column('cancel_requested_at', sa.DateTime))
    op.execute(payouts.update().where(payouts.c.status == 'pending', payouts.c.cancel_requested_at.isnot(None))
               .values(failure=CANCELING))
    with op.batch_alter_table('provider_payouts') as batch:
        batch.drop_column('cancel_requested_at')
