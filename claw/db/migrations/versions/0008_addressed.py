"""Addressed, not chatty; strangers need an invitation.

- ``messages.addressed``: whether a message starts a turn (existing messages did: true).
- ``groups.respond``: "mention" for Telegram and WhatsApp group chats (negative Telegram chat
  ids, WhatsApp ids ending in ``@g.us``), "always" for every other chat.
- ``groups.access``: every group that exists when this ships stays approved;
  ``groups.approved_at``: when a waiting chat was approved.
- ``pairings``: chats waiting for their owner's approval, with their code.

Revision ID: 0008_addressed
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_addressed"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("addressed", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("groups") as batch_op:
        batch_op.add_column(sa.Column("respond", sa.String(16), nullable=False, server_default="always"))
        batch_op.add_column(sa.Column("access", sa.String(16), nullable=False, server_default="approved"))
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE groups SET respond = 'mention' WHERE (channel = 'telegram' AND chat_id LIKE '-%') "
        "OR (channel = 'whatsapp' AND chat_id LIKE '%@g.us')"
    )
    op.create_table(
        "pairings",
        sa.Column("group_id", sa.String(255), sa.ForeignKey("groups.id"), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("chat_name", sa.String(255), nullable=True),
        sa.Column("first_sender", sa.String(255), nullable=False),
        sa.Column("first_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notice_id", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("code", name="uq_pairings_code"),
    )


def downgrade() -> None:
    op.drop_table("pairings")
    with op.batch_alter_table("groups") as batch_op:
        batch_op.drop_column("approved_at")
        batch_op.drop_column("access")
        batch_op.drop_column("respond")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("addressed")
