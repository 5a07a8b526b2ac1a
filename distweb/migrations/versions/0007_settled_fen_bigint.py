"""settlement_runs.settled_fen as a 64-bit integer (a large run passes ¥21,474,836.47)

Revision ID: 7c2a9e4f1b30
Revises: 6b1f0c2d7e10
Create Date: 2026-11-28 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '7c2a9e4f1b30'
down_revision = '6b1f0c2d7e10'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('settlement_runs', schema=None) as batch_op:
        batch_op.alter_column('settled_fen', existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade():
    with op.batch_alter_table('settlement_runs', schema=None) as batch_op:
        batch_op.alter_column('settled_fen', existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
