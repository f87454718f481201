"""drift: the container fields that differ from the desired spec, for the status page

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Reviewed by hand.
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runtime_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('drift', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runtime_state', schema=None) as batch_op:
        batch_op.drop_column('drift')
