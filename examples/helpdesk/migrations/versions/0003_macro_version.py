"""macros.version: the audit mixin's optimistic-concurrency counter (flask-activity 0.15)

Revision ID: 0003_macro_version
Revises: 0002_activity_indexes
Create Date: 2026-12-04 05:00:00+0000
"""
from alembic import op
import sqlalchemy as sa

revision = '0003_macro_version'
down_revision = '0002_activity_indexes'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('macros', sa.Column('version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    with op.batch_alter_table('macros') as batch:
        batch.drop_column('version')
