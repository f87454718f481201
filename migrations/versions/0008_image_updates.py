"""image updates: the digest each container runs, the newer one its registry has

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Reviewed by hand: datetimes are plain DateTime columns holding UTC (see UTCDateTime).
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runtime_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image_digest', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('available_digest', sa.String(length=100),
                                      nullable=True))
        batch_op.add_column(sa.Column('image_checked_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('image_check_error', sa.Text(), nullable=True))
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image_digest', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.drop_column('image_digest')
    with op.batch_alter_table('runtime_state', schema=None) as batch_op:
        batch_op.drop_column('image_check_error')
        batch_op.drop_column('image_checked_at')
        batch_op.drop_column('available_digest')
        batch_op.drop_column('image_digest')
