"""dashboard: promoters' running totals at each brand month's end (dashboard_promoter_totals),
so a long period's per-promoter figures are the difference of two snapshots; backfilled
from the month sums

Revision ID: 4c8e2f6a9d31
Revises: 9d2b7e4f1a63
Create Date: 2026-12-06 15:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = '4c8e2f6a9d31'
down_revision = '9d2b7e4f1a63'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'dashboard_promoter_totals',
        sa.Column('brand_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('promoter_id', sa.Integer(), nullable=False),
        sa.Column('gmv_fen', sa.BigInteger(), nullable=False),
        sa.Column('orders', sa.BigInteger(), nullable=False),
        sa.Column('commission_fen', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['brand_id'], ['brands.id'],
                                name=op.f('fk_dashboard_promoter_totals_brand_id_brands')),
        sa.PrimaryKeyConstraint('brand_id', 'month', 'promoter_id', name=op.f('pk_dashboard_promoter_totals')),
        sqlite_with_rowid=False,
    )
    from distweb.services import rollups

    conn = op.get_bind()
    for (brand_id,) in conn.execute(sa.text("SELECT id FROM brands ORDER BY id")):
        rollups.rebuild_totals_on(conn, brand_id)


def downgrade():
    op.drop_table('dashboard_promoter_totals')
