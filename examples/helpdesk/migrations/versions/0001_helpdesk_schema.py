"""helpdesk schema: accounts, tickets, comments and macros, as the help desk had them before it adopted
flask-activity (the macros come with the indexes the audit mixin declares; report_runs is flask-activity's own,
added by ``init-db`` through ActivityReporting.create_tables()).

Revision ID: 0001_helpdesk_schema
Revises:
Create Date: 2026-12-03 20:41:41.833067

"""
from alembic import op
import sqlalchemy as sa
import flask_activity.types  # noqa: F401  (the audit mixin's column type)


# revision identifiers, used by Alembic.
revision = '0001_helpdesk_schema'
down_revision = None
branch_labels = None
depends_on = None

DELETED = sa.text('deleted_at IS NOT NULL')
UPDATED = sa.text('updated_at > created_at')


def upgrade():
    op.create_table('accounts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('username', sa.String(length=50), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('username', name=op.f('uq_accounts_username'))
    )
    op.create_table('macros',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', flask_activity.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', flask_activity.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', flask_activity.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('updated_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['accounts.id'], name=op.f('fk_macros_created_by_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['accounts.id'], name=op.f('fk_macros_updated_by_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_macros'))
    )
    op.create_index('ix_macros_created_at_id', 'macros', ['created_at', 'id'])
    op.create_index('ix_macros_updated_at_id', 'macros', ['updated_at', 'id'], sqlite_where=UPDATED, postgresql_where=UPDATED)
    op.create_index('ix_macros_deleted_at_id', 'macros', ['deleted_at', 'id'], sqlite_where=DELETED, postgresql_where=DELETED)
    op.create_index('ix_macros_created_by_at_id', 'macros', ['created_by_id', 'created_at', 'id'])
    op.create_index('ix_macros_updated_by_at_id', 'macros', ['updated_by_id', 'updated_at', 'id'], sqlite_where=UPDATED, postgresql_where=UPDATED)
    op.create_index('ix_macros_deleted_by_at_id', 'macros', ['updated_by_id', 'deleted_at', 'id'], sqlite_where=DELETED, postgresql_where=DELETED)

    op.create_table('tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requester_id', sa.Uuid(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('modified', sa.DateTime(), nullable=False),
    sa.Column('archived_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['requester_id'], ['accounts.id'], name=op.f('fk_tickets_requester_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets'))
    )
    op.create_index(op.f('ix_tickets_requester_id'), 'tickets', ['requester_id'])

    op.create_table('comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Uuid(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('modified', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['accounts.id'], name=op.f('fk_comments_author_id_accounts')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_comments_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comments'))
    )
    op.create_index(op.f('ix_comments_ticket_id'), 'comments', ['ticket_id'])


def downgrade():
    op.drop_table('comments')  # a table's indexes go with it
    op.drop_table('tickets')
    op.drop_table('macros')
    op.drop_table('accounts')
