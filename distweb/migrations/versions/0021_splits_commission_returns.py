"""splits: per-brand payment options (close time, commission 分账), receivers bound at the
provider, and 分账回退 of refunded orders

Revision ID: 4c8e1f6a2d31
Revises: 7b3e9d2a5c10
Create Date: 2026-12-06 15:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4c8e1f6a2d31'
down_revision = '7b3e9d2a5c10'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('payment_options',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('close_minutes', sa.Integer(), nullable=True),
    sa.Column('commission_split', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('close_minutes IS NULL OR (close_minutes >= 5 AND close_minutes <= 10080)', name=op.f('ck_payment_options_close_minutes_range')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_payment_options_brand_id_brands')),
    sa.PrimaryKeyConstraint('brand_id', name=op.f('pk_payment_options'))
    )
    op.create_table('royalty_bindings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=12), nullable=False),
    sa.Column('account', sa.String(length=100), nullable=False),
    sa.Column('bound_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_royalty_bindings_brand_id_brands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_royalty_bindings')),
    sa.UniqueConstraint('brand_id', 'provider', 'account', name=op.f('uq_royalty_bindings_brand_id_provider_account'))
    )
    op.create_table('split_returns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('split_id', sa.Integer(), nullable=False),
    sa.Column('refund_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=12), nullable=False),
    sa.Column('out_no', sa.String(length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('receivers', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('failure', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_try_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_split_returns_amount_positive')),
    sa.CheckConstraint("status IN ('waiting', 'pending', 'succeeded', 'failed', 'manual')", name=op.f('ck_split_returns_status_known')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_split_returns_brand_id_brands')),
    sa.ForeignKeyConstraint(['refund_id'], ['payment_refunds.id'], name=op.f('fk_split_returns_refund_id_payment_refunds')),
    sa.ForeignKeyConstraint(['split_id'], ['profit_splits.id'], name=op.f('fk_split_returns_split_id_profit_splits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_split_returns')),
    sa.UniqueConstraint('out_no', name=op.f('uq_split_returns_out_no')),
    sa.UniqueConstraint('refund_id', 'split_id', name=op.f('uq_split_returns_refund_id_split_id'))
    )
    with op.batch_alter_table('split_returns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_split_returns_split_id'), ['split_id'], unique=False)
    with op.batch_alter_table('profit_splits', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_profit_splits_amount_positive'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_profit_splits_status_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_profit_splits_amount_positive'),
                                         "amount_fen > 0 OR (amount_fen = 0 AND status = 'manual')")
        batch_op.create_check_constraint(batch_op.f('ck_profit_splits_status_known'),
                                         "status IN ('pending', 'succeeded', 'failed', 'manual')")


def downgrade():
    op.execute("DELETE FROM profit_splits WHERE status = 'manual'")
    with op.batch_alter_table('profit_splits', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_profit_splits_amount_positive'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_profit_splits_status_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_profit_splits_amount_positive'), 'amount_fen > 0')
        batch_op.create_check_constraint(batch_op.f('ck_profit_splits_status_known'),
                                         "status IN ('pending', 'succeeded', 'failed')")
    with op.batch_alter_table('split_returns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_split_returns_split_id'))
    op.drop_table('split_returns')
    op.drop_table('royalty_bindings')
    op.drop_table('payment_options')
