"""(actor, timestamp, id) indexes for the actor-filtered feed

The single-column created_by_id / updated_by_id indexes become (created_by_id, created_at, id) and
(updated_by_id, updated_at, id) WHERE updated_at > created_at (partial, like the updated feed index, so
an insert maintains one actor index as before): the feed filtered by actor reads a range instead of
sorting every row of that actor.

Revision ID: 7e4b1a9c2d35
Revises: 5c2d8e41f0a6
Create Date: 2026-11-21 12:25:00
"""
from alembic import op
import sqlalchemy as sa


revision = '7e4b1a9c2d35'
down_revision = '5c2d8e41f0a6'
branch_labels = None
depends_on = None

TABLES = ("users", "bucketlists", "items")
ACTORS = {"created": ("created_by_id", "created_at", None),
          "updated": ("updated_by_id", "updated_at", "updated_at > created_at")}


def upgrade():
    for table in TABLES:
        for action, (actor, at, condition) in ACTORS.items():
            where = {} if condition is None else {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}
            op.drop_index(f"ix_{table}_{action}_by_id", table_name=table)
            op.create_index(f"ix_{table}_{action}_by_at_id", table, [actor, at, "id"], unique=False, **where)


def downgrade():
    for table in TABLES:
        for action, (actor, _, _) in ACTORS.items():
            op.drop_index(f"ix_{table}_{action}_by_at_id", table_name=table)
            op.create_index(f"ix_{table}_{action}_by_id", table, [actor], unique=False)
