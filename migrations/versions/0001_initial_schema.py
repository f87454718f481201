"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28

Reviewed by hand: datetimes are plain DateTime columns holding UTC (see UTCDateTime).
"""
from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

def upgrade() -> None:

    op.create_table('desired_state_loads',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('services', sa.Integer(), nullable=False),
    sa.Column('prune', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desired_state_loads'))
    )
    op.create_table('engine_status',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reachable', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engine_status'))
    )
    op.create_table('events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_service'), ['service'], unique=False)

    op.create_table('runtime_state',
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('spec_enabled', sa.Boolean(), nullable=False),
    sa.Column('manually_stopped', sa.Boolean(), nullable=False),
    sa.Column('pending_action', sa.String(length=16), nullable=True),
    sa.Column('request_version', sa.Integer(), nullable=False),
    sa.Column('failure_count', sa.Integer(), nullable=False),
    sa.Column('restart_count', sa.Integer(), nullable=False),
    sa.Column('last_restart_at', sa.DateTime(), nullable=True),
    sa.Column('last_failure_at', sa.DateTime(), nullable=True),
    sa.Column('last_failure', sa.Text(), nullable=True),
    sa.Column('disabled_reason', sa.Text(), nullable=True),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.Column('container_id', sa.String(length=64), nullable=True),
    sa.Column('container_state', sa.String(length=32), nullable=True),
    sa.Column('health', sa.String(length=16), nullable=True),
    sa.Column('health_failures', sa.Integer(), nullable=False),
    sa.Column('health_output', sa.Text(), nullable=True),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('oom_killed', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('observed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('service', name=op.f('pk_runtime_state'))
    )
    op.create_table('services',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('spec_hash', sa.String(length=64), nullable=False),
    sa.Column('source_file', sa.String(length=500), nullable=False),
    sa.Column('source_line', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_services'))
    )

def downgrade() -> None:

    op.drop_table('services')
    op.drop_table('runtime_state')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_service'))
        batch_op.drop_index(batch_op.f('ix_events_at'))

    op.drop_table('events')
    op.drop_table('engine_status')
    op.drop_table('desired_state_loads')

