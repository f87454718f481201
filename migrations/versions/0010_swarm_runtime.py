"""swarm runtime: replicas and tasks stored with each service, and when failed tasks
began to count again after a stable period

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

Reviewed by hand: datetimes are plain DateTime columns holding UTC (see UTCDateTime).
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runtime_state') as batch:
        batch.add_column(sa.Column('replicas', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('tasks', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('failures_counted_since', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runtime_state') as batch:
        batch.drop_column('failures_counted_since')
        batch.drop_column('tasks')
        batch.drop_column('replicas')
