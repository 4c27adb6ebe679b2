"""users.session_epoch: the number every session of a user carries; bumping it ends them all

Logout, a password change, deactivation, a role change and "log out everywhere else" bump it; a session whose
number differs is refused at its next request. NOT NULL with server default 0, so existing users' sessions (which
carry no number) are ended once, at the first request after the upgrade: they log in again.

Revision ID: e5b8d3f0a2c4
Revises: d4a7c2e9f1b3
Create Date: 2026-12-04 02:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'e5b8d3f0a2c4'
down_revision = 'd4a7c2e9f1b3'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    op.drop_column('users', 'session_epoch')
