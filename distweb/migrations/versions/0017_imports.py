"""platform imports: column mappings per brand, kind and source; uploaded batches with their
checkpoint; what became of each row; external ids already imported

Revision ID: 7b3e9d2a5c14
Revises: f6c2a8d41e90
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '7b3e9d2a5c14'
down_revision = 'f6c2a8d41e90'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'import_mappings',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('brand_id', sa.Integer(), sa.ForeignKey('brands.id'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('columns', sa.JSON(), nullable=False),
        sa.Column('options', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('brand_id', 'kind', 'source', name='uq_import_mappings_brand_kind_source'),
    )
    op.create_table(
        'import_batches',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('brand_id', sa.Integer(), sa.ForeignKey('brands.id'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=False),
        sa.Column('stored_name', sa.String(length=80), nullable=False),
        sa.Column('file_format', sa.String(length=8), nullable=False),
        sa.Column('encoding', sa.String(length=20), nullable=True),
        sa.Column('headers', sa.JSON(), nullable=False),
        sa.Column('columns', sa.JSON(), nullable=True),
        sa.Column('options', sa.JSON(), nullable=True),
        sa.Column('job_id', sa.Integer(), sa.ForeignKey('jobs.id'), nullable=True),
        sa.Column('total_rows', sa.Integer(), nullable=True),
        sa.Column('rows_done', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_import_batches_brand_id', 'import_batches', ['brand_id'])
    op.create_index('ix_import_batches_job_id', 'import_batches', ['job_id'])
    op.create_table(
        'import_rows',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('batch_id', sa.Integer(), sa.ForeignKey('import_batches.id', ondelete='CASCADE'), nullable=False),
        sa.Column('row_no', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=12), nullable=False),
        sa.Column('external_id', sa.String(length=64), nullable=True),
        sa.Column('reason', sa.String(length=400), nullable=True),
        sa.UniqueConstraint('batch_id', 'row_no', name='uq_import_rows_batch_row'),
    )
    op.create_table(
        'import_keys',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('brand_id', sa.Integer(), sa.ForeignKey('brands.id'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('external_id', sa.String(length=64), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
        sa.UniqueConstraint('brand_id', 'kind', 'source', 'external_id',
                            name='uq_import_keys_brand_kind_source_external'),
    )


def downgrade():
    op.drop_table('import_keys')
    op.drop_table('import_rows')
    op.drop_index('ix_import_batches_job_id', table_name='import_batches')
    op.drop_index('ix_import_batches_brand_id', table_name='import_batches')
    op.drop_table('import_batches')
    op.drop_table('import_mappings')
