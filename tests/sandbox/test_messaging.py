"""The send_message IPC action against a real database (SQLite and PostgreSQL).

Messages to push channels (WhatsApp) go through the send task; that path is tested end to end
in tests/e2e/test_sandbox.py, with a real stack and a fake bridge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from claw.config import Settings
from claw.db import Group, Message, Outbox, read_session, write_session
from claw.db.models import OutboxStatus
from claw.pipeline.inbox import ensure_group
from claw.sandbox.ipc import ALLOWED_ACTIONS, ActionContext, ActionDenied, ActionError, Identity
from claw.sandbox.ipc.messaging import SendMessageArgs, send_message
from tests.support.databases import as_default_database


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with as_default_database(db_url, monkeypatch):
        with write_session() as session:
            ensure_group(session, "http", "team")
            ensure_group(session, "whatsapp", "123@g.us")
        yield db_url


def ctx(tmp_path: Path, group_id: str = "http:team", is_main: bool = False) -> ActionContext:
    return ActionContext(Identity(group_id, is_main), Settings(workspace=tmp_path), tmp_path)


def test_send_message_is_registered_with_its_schema_and_priority() -> None:
    action = ALLOWED_ACTIONS["send_message"]
    assert action.schema is SendMessageArgs and action.priority == 10


def test_a_message_to_the_own_group_is_stored_and_delivered(db: str, tmp_path: Path) -> None:
    result = send_message(ctx(tmp_path), SendMessageArgs(text="hi"))
    with read_session() as session:
        row = session.get_one(Outbox, result["outbox_id"])
        message = session.get_one(Message, row.message_id)
    assert (message.role, message.sender, message.text, message.kind) == ("assistant", "claw", "hi", "chat")
    assert row.status == OutboxStatus.SENT and row.answers_upto_id == 0


def test_only_a_main_group_may_message_others_and_only_existing_ones(db: str, tmp_path: Path) -> None:
    with pytest.raises(ActionDenied, match="may only message itself"):
        send_message(ctx(tmp_path), SendMessageArgs(text="hi", to="whatsapp:123@g.us"))
    with pytest.raises(ActionError, match="there is no group 'http:nobody'"):
        send_message(ctx(tmp_path, is_main=True), SendMessageArgs(text="hi", to="http:nobody"))
    with read_session() as session:
        assert session.scalars(select(Outbox)).all() == []
        assert session.get_one(Group, "http:team").is_main is False
