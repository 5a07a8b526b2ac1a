"""payouts: batches of a settlement run's payouts, WeChat 商家转账 confirmation packages,
and payout accounts bound through WeChat's OAuth

Revision ID: 3c8f1e6a9d21
Revises: 4c8e1f6a2d31
Create Date: 2026-12-06 15:15:00

"""
from alembic import op
import sqlalchemy as sa


revision = '3c8f1e6a9d21'
down_revision = '4c8e1f6a2d31'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('payout_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('settlement_run_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('notify_base', sa.String(length=300), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_payout_batches_brand_id_brands')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_payout_batches_created_by_id_users')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_payout_batches_job_id_jobs')),
    sa.ForeignKeyConstraint(['settlement_run_id'], ['settlement_runs.id'],
                            name=op.f('fk_payout_batches_settlement_run_id_settlement_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_batches'))
    )
    with op.batch_alter_table('payout_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payout_batches_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payout_batches_settlement_run_id'), ['settlement_run_id'], unique=False)

    with op.batch_alter_table('provider_payouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('package_info', sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column('batch_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_provider_payouts_batch_id'), ['batch_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_provider_payouts_batch_id_payout_batches'), 'payout_batches',
                                    ['batch_id'], ['id'])

    with op.batch_alter_table('payout_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wechat_bound_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('payout_accounts', schema=None) as batch_op:
        batch_op.drop_column('wechat_bound_at')

    with op.batch_alter_table('provider_payouts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_provider_payouts_batch_id_payout_batches'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_provider_payouts_batch_id'))
        batch_op.drop_column('batch_id')
        batch_op.drop_column('package_info')

    with op.batch_alter_table('payout_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payout_batches_settlement_run_id'))
        batch_op.drop_index(batch_op.f('ix_payout_batches_brand_id'))

    op.drop_table('payout_batches')
