"""sms codes: verification codes sent by SMS (sign-up, password reset, a shop buyer's
phone), kept only as keyed hashes, with their expiry, attempts and single use

Revision ID: e4a9d1c07b53
Revises: e5b7a9c3d104
Create Date: 2026-12-06 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'e4a9d1c07b53'
down_revision = 'e5b7a9c3d104'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sms_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Enum('signup', 'reset', 'checkout', name='sms_purpose', native_enum=False,
                                 create_constraint=True, length=16), nullable=False),
    sa.Column('phone_key', sa.String(length=64), nullable=False),
    sa.Column('salt', sa.String(length=32), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('sending', 'sent', 'failed', name='sms_code_status', native_enum=False,
                                create_constraint=True, length=16), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('provider_ref', sa.String(length=64), nullable=True),
    sa.Column('ip_hash', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('consumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_codes'))
    )
    with op.batch_alter_table('sms_codes', schema=None) as batch_op:
        batch_op.create_index('ix_sms_codes_phone_purpose', ['phone_key', 'purpose', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('sms_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_codes_phone_purpose')
    op.drop_table('sms_codes')
