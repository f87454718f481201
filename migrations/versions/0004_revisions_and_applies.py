"""revisions and applies: the git commit of each load, the history of applies, the followed remote

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Reviewed by hand: datetimes are plain DateTime columns holding UTC (see UTCDateTime).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('applies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=64), nullable=True),
    sa.Column('revision', sa.String(length=64), nullable=True),
    sa.Column('dirty', sa.Boolean(), nullable=True),
    sa.Column('digest', sa.String(length=64), nullable=True),
    sa.Column('ok', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applies'))
    )
    with op.batch_alter_table('applies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applies_started_at'), ['started_at'], unique=False)

    op.create_table('source_status',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('remote', sa.String(length=500), nullable=False),
    sa.Column('branch', sa.String(length=200), nullable=False),
    sa.Column('commit', sa.String(length=64), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_status'))
    )
    with op.batch_alter_table('desired_state_loads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('dirty', sa.Boolean(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('desired_state_loads', schema=None) as batch_op:
        batch_op.drop_column('dirty')
        batch_op.drop_column('revision')

    op.drop_table('source_status')
    with op.batch_alter_table('applies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applies_started_at'))

    op.drop_table('applies')
