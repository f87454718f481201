"""audit: where each event's actor was, and an index to filter events by actor

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Reviewed by hand.
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_events_actor'), ['actor'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_actor'))
        batch_op.drop_column('origin')
