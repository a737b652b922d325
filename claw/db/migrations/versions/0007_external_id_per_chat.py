"""An external id identifies a message within its chat, not within its whole channel.

Telegram's message_id counts per chat and an HTTP client picks its own ids per chat, so the
same id in two chats is two messages: the unique key becomes (channel, chat_id, external_id).
Every pair of rows the old key allowed is still allowed, so the upgrade cannot fail on data;
the downgrade fails if two chats of one channel now share an external id.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot drop a constraint in place, so the table is copied
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_constraint("uq_messages_channel_external_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_messages_chat_external_id", ["channel", "chat_id", "external_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_constraint("uq_messages_chat_external_id", type_="unique")
        batch_op.create_unique_constraint("uq_messages_channel_external_id", ["channel", "external_id"])
