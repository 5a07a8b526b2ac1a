"""dashboard rollups: per-day and per-month sums of the dashboard's figures per brand, per
promoter and per product (dashboard_brand_days, dashboard_promoter_days,
dashboard_product_days), the insert-only deltas the order, commission and ledger services
write in their own transactions (dashboard_deltas), promoters.first_sale_at (新人存活率 without
a look at every new promoter's orders), and the backfill of existing brands

Revision ID: 9b3d5f7a1c20
Revises: 9b4e7d2c1a05
Create Date: 2026-12-06 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '9b3d5f7a1c20'
down_revision = '9b4e7d2c1a05'
branch_labels = None
depends_on = None

MONEY = ('gmv_fen', 'orders', 'refunded_fen', 'commission_fen', 'frozen_fen', 'available_fen', 'joined')


def _sums(*names):
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def upgrade():
    with op.batch_alter_table('promoters') as batch_op:
        batch_op.add_column(sa.Column('first_sale_at', sa.DateTime(timezone=True), nullable=True))
    # The same index, carrying first_sale_at: a period's joiners and whether they sold soon after.
    op.drop_index('ix_promoters_brand_status_joined', table_name='promoters')
    op.create_index('ix_promoters_brand_status_joined_sale', 'promoters',
                    ['brand_id', 'status', 'joined_at', 'first_sale_at'])
    op.create_table(
        'dashboard_deltas',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('brand_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('promoter_id', sa.Integer(), nullable=True),
        sa.Column('product_id', sa.Integer(), nullable=True),
        *_sums('gmv_fen', 'orders', 'quantity', 'refunded_fen', 'commission_fen', 'frozen_fen', 'available_fen',
              'joined'),
        sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_dashboard_deltas_brand_id_brands')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_deltas')),
    )
    op.create_index('ix_dashboard_deltas_brand_day', 'dashboard_deltas', ['brand_id', 'day'])
    for table, key, names in (
            ('dashboard_brand_days', None, MONEY),
            ('dashboard_promoter_days', 'promoter_id', ('gmv_fen', 'orders', 'commission_fen')),
            ('dashboard_product_days', 'product_id', ('gmv_fen', 'quantity', 'orders'))):
        keys = ['brand_id', 'span', 'day'] + ([key] if key else [])
        op.create_table(
            table,
            sa.Column('brand_id', sa.Integer(), nullable=False),
            sa.Column('span', sa.String(length=1), nullable=False),
            sa.Column('day', sa.String(length=10), nullable=False),
            *([sa.Column(key, sa.Integer(), nullable=False)] if key else []),
            *_sums(*names),
            sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f(f'fk_{table}_brand_id_brands')),
            sa.PrimaryKeyConstraint(*keys, name=op.f(f'pk_{table}')),
            sqlite_with_rowid=False,  # SQLite keeps the rows in key order: a period is one range
        )
    _backfill()


def _backfill():
    """Existing brands' sums, from their orders, refunds, commission lines and ledger, on
    the migration's own connection (the code of ``distweb dashboard rebuild-rollups``)."""
    from distweb.services import rollups

    rollups.rebuild_all(op.get_bind(), totals=False)  # their table comes with 0021


def downgrade():
    op.drop_table('dashboard_product_days')
    op.drop_table('dashboard_promoter_days')
    op.drop_table('dashboard_brand_days')
    op.drop_index('ix_dashboard_deltas_brand_day', table_name='dashboard_deltas')
    op.drop_table('dashboard_deltas')
    op.drop_index('ix_promoters_brand_status_joined_sale', table_name='promoters')
    op.create_index('ix_promoters_brand_status_joined', 'promoters', ['brand_id', 'status', 'joined_at'])
    with op.batch_alter_table('promoters') as batch_op:
        batch_op.drop_column('first_sale_at')
