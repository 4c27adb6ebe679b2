"""the dashboard's shared counts: events per quarter hour, model and action over the last days, counted by the
scheduler and read by every web process (flask_activity.activity.shared_counts), and the row saying what it holds

Revision ID: b8e3a6d9f2c1
Revises: a7d2f5c8e1b9
Create Date: 2026-12-04 12:30:00
"""
from alembic import op
import sqlalchemy as sa
import flask_activity.types  # noqa: F401  (custom column types used by migrations)


revision = 'b8e3a6d9f2c1'
down_revision = 'a7d2f5c8e1b9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('activity_event_counts',
    sa.Column('bucket', sa.BigInteger(), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('bucket', 'model', 'action', name=op.f('pk_activity_event_counts'))
    )
    op.create_table('activity_event_counts_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('since', sa.BigInteger(), nullable=False),
    sa.Column('until', sa.BigInteger(), nullable=False),
    sa.Column('counted_at', flask_activity.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_event_counts_state'))
    )


def downgrade():
    op.drop_table('activity_event_counts_state')
    op.drop_table('activity_event_counts')
