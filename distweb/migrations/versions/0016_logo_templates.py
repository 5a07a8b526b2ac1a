"""logo templates: brands.logo_template names the drawn logo template (templates/logos/)
the brand's logo was rendered from, so a new name or colour renders it again; None for an
uploaded logo or the built-in mark

Revision ID: f6c2a8d41e90
Revises: e4a7c1d9b2f6
Create Date: 2026-12-06 09:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'f6c2a8d41e90'
down_revision = 'e4a7c1d9b2f6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('brands') as batch_op:
        batch_op.add_column(sa.Column('logo_template', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('brands') as batch_op:
        batch_op.drop_column('logo_template')
