"""partial indexes for the updated and deleted feed branches

The (updated_at, id) and (deleted_at, id) indexes hold only the rows their feed branch reads
(updated_at > created_at; deleted_at IS NOT NULL), so inserting a row maintains neither.

Revision ID: 3a1f0c2e9b7d
Revises: 860fbd749d44
Create Date: 2026-11-21 10:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '3a1f0c2e9b7d'
down_revision = '860fbd749d44'
branch_labels = None
depends_on = None

TABLES = ("users", "bucketlists", "items")
PARTIAL = {"updated_at": "updated_at > created_at", "deleted_at": "deleted_at IS NOT NULL"}


def upgrade():
    for table in TABLES:
        for column, condition in PARTIAL.items():
            name = f"ix_{table}_{column}_id"
            op.drop_index(name, table_name=table)
            op.create_index(name, table, [column, "id"], unique=False,
                            sqlite_where=sa.text(condition), postgresql_where=sa.text(condition))


def downgrade():
    for table in TABLES:
        for column in PARTIAL:
            name = f"ix_{table}_{column}_id"
            op.drop_index(name, table_name=table)
            op.create_index(name, table, [column, "id"], unique=False)
