"""version on every audited table: SQLAlchemy's optimistic concurrency (the audit mixin's version_id_col)

Every ORM UPDATE then says "AND version = :read" and sets version + 1, so an edit racing a delete, or a form
opened before someone else saved, matches no row and is refused instead of overwriting. NOT NULL with server
default 1: existing rows start at version 1.

Revision ID: f6c9e4a1b3d5
Revises: e5b8d3f0a2c4
Create Date: 2026-12-04 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'f6c9e4a1b3d5'
down_revision = 'e5b8d3f0a2c4'
branch_labels = None
depends_on = None

TABLES = ('users', 'bucketlists', 'items')


def upgrade():
    for table in TABLES:
        op.add_column(table, sa.Column('version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('version')
