"""bind buyers on payment: orders.binds_buyer says whether paying the order binds its buyer
to its promoter (an unpaid order never binds; an anonymous shop checkout binds only with a
tracked-link touch from the buyer's browser)

Revision ID: c2e1b75f3d21
Revises: b1f0a64e2c10
Create Date: 2026-12-06 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'c2e1b75f3d21'
down_revision = 'b1f0a64e2c10'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('binds_buyer', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('binds_buyer')
