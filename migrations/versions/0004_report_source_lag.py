"""report runs record the read replica's lag

Revision ID: 5c2d8e41f0a6
Revises: 3a1f0c2e9b7d
Create Date: 2026-11-21 11:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '5c2d8e41f0a6'
down_revision = '3a1f0c2e9b7d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('report_runs') as batch_op:
        batch_op.add_column(sa.Column('source_lag_ms', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('report_runs') as batch_op:
        batch_op.drop_column('source_lag_ms')
