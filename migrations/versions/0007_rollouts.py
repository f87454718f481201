"""rollouts: health-gated replacements of running containers, and operator rollbacks

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Reviewed by hand: datetimes are plain DateTime columns holding UTC (see UTCDateTime).
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rollouts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('strategy', sa.String(length=16), nullable=False),
    sa.Column('spec_hash', sa.String(length=64), nullable=False),
    sa.Column('revision', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('candidate_id', sa.String(length=64), nullable=True),
    sa.Column('old_id', sa.String(length=64), nullable=True),
    sa.Column('healthy_since', sa.DateTime(), nullable=True),
    sa.Column('previous_spec', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollouts'))
    )
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollouts_service'), ['service'], unique=False)
    with op.batch_alter_table('runtime_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('applied_spec', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('pinned_spec', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('pinned_for_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runtime_state', schema=None) as batch_op:
        batch_op.drop_column('pinned_for_hash')
        batch_op.drop_column('pinned_spec')
        batch_op.drop_column('applied_spec')
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollouts_service'))
    op.drop_table('rollouts')
