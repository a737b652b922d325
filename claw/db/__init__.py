"""The database: SQLAlchemy 2 models, sessions and Alembic migrations.

The database is the source of truth for every message, reply and cursor; Celery messages carry
only ids, so a lost or duplicated Celery message never loses or duplicates a chat message.
"""

from claw.db.models import Base, Channel, Group, Message, Outbox, Pairing, PollCursor, Usage
from claw.db.session import get_engine, read_session, write_session

__all__ = [
    "Base",
    "Channel",
    "Group",
    "Message",
    "Outbox",
    "Pairing",
    "PollCursor",
    "Usage",
    "get_engine",
    "read_session",
    "write_session",
]
