"""self-healing state: finish time, health flips, flapping, waits, and pauses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Reviewed by hand: datetimes are plain DateTime columns holding UTC (see UTCDateTime);
existing rows get an empty list of health transitions.
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pauses',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('until', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pauses')),
    sa.UniqueConstraint('scope', 'target', name=op.f('uq_pauses_scope'))
    )
    with op.batch_alter_table('runtime_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('health_transitions', sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('flapping_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('wait_kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('wait_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('wait_until', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runtime_state', schema=None) as batch_op:
        batch_op.drop_column('wait_until')
        batch_op.drop_column('wait_reason')
        batch_op.drop_column('wait_kind')
        batch_op.drop_column('flapping_at')
        batch_op.drop_column('health_transitions')
        batch_op.drop_column('finished_at')
    op.drop_table('pauses')
