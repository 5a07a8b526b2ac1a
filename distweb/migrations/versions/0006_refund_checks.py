"""orders: the refund checks the models declare (autogenerate does not see check constraints)

Revision ID: 6b1f0c2d7e10
Revises: 54c98c8e2780
Create Date: 2026-11-28 08:00:00
"""

from alembic import op

revision = '6b1f0c2d7e10'
down_revision = '54c98c8e2780'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_check_constraint('refund_within_paid', 'refunded_fen >= 0 AND refunded_fen <= total_paid_fen')
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.create_check_constraint('refund_within_paid', 'refunded_fen >= 0 AND refunded_fen <= paid_fen')


def downgrade():
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_constraint('ck_order_items_refund_within_paid', type_='check')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('ck_orders_refund_within_paid', type_='check')
