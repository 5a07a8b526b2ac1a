"""data versions: the counters page caches are keyed by (a promoter's home, a brand's shared
parts), raised by every write to what they cover

Revision ID: e5b7a9c3d104
Revises: d3f2c86a4e32
Create Date: 2026-12-09 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'e5b7a9c3d104'
down_revision = 'd3f2c86a4e32'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'data_versions',
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('owner_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('scope', 'owner_id', name=op.f('pk_data_versions')),
    )


def downgrade():
    op.drop_table('data_versions')
