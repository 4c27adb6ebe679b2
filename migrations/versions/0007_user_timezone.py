"""users.timezone: each user's own display time zone

An IANA name (at most 64 characters) or NULL, which means APP_TIMEZONE. Only the display uses it: reports and
the CLI keep APP_TIMEZONE or each report's own zone. Nullable with no default, so existing users keep seeing
APP_TIMEZONE and adding the column rewrites no rows.

Revision ID: d4a7c2e9f1b3
Revises: 9b3e6f2a1c47
Create Date: 2026-11-22 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'd4a7c2e9f1b3'
down_revision = '9b3e6f2a1c47'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('timezone', sa.String(length=64), nullable=True))


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+, PostgreSQL): batch mode would rebuild users, which other tables reference.
    op.drop_column('users', 'timezone')
