"""dashboard: orders by payment and cancellation time (per brand; per promoter by payment),
refunds by time, commission lines by order with what they keep, and the daily brand report's
table (one report per brand and day)

Revision ID: e4a7c1d9b2f6
Revises: e4a9d1c07b53
Create Date: 2026-12-06 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'e4a7c1d9b2f6'
down_revision = 'e4a9d1c07b53'
branch_labels = None
depends_on = None


def upgrade():
    # The dashboard counts an order on the day of its paid_at and a cancellation on its own
    # day: every figure starts with a range on one of these (services/dashboard.py).
    op.create_index('ix_orders_brand_paid', 'orders', ['brand_id', 'paid_at'])
    op.create_index('ix_orders_brand_cancelled', 'orders', ['brand_id', 'cancelled_at'])
    # A promoter's orders by payment: new-promoter survival and core churn look them up.
    op.create_index('ix_orders_promoter_paid', 'orders', ['promoter_id', 'paid_at'])
    op.create_index('ix_refunds_created', 'refunds', ['created_at'])
    # An order's commission lines with what each keeps: a period's commission (all levels, by
    # promoter) is read from the index alone. It serves every lookup by order_id the plain
    # index did, so that one goes.
    op.create_index('ix_commission_lines_order_kept', 'commission_lines',
                    ['order_id', 'promoter_id', 'amount_fen', 'reversed_fen'])
    op.drop_index('ix_commission_lines_order_id', table_name='commission_lines')
    op.create_table(
        'daily_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('brand_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('file_name', sa.String(length=120), nullable=True),
        sa.Column('gmv_fen', sa.BigInteger(), nullable=True),
        sa.Column('orders', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('rendered_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_daily_reports_brand_id_brands')),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_daily_reports_job_id_jobs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_daily_reports')),
        sa.UniqueConstraint('brand_id', 'day', name='uq_daily_reports_brand_day'),
    )


def downgrade():
    op.drop_table('daily_reports')
    op.create_index('ix_commission_lines_order_id', 'commission_lines', ['order_id'])
    op.drop_index('ix_commission_lines_order_kept', table_name='commission_lines')
    op.drop_index('ix_refunds_created', table_name='refunds')
    op.drop_index('ix_orders_promoter_paid', table_name='orders')
    op.drop_index('ix_orders_brand_cancelled', table_name='orders')
    op.drop_index('ix_orders_brand_paid', table_name='orders')
