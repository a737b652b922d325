"""``POST /v1/messages?wait=`` when the reply's announcement never comes (the API alone, no worker).

A turn's process can die between committing a reply and announcing it; its redone turn then
finds nothing to answer and announces nothing. The waiter still finds the reply by
re-checking the database (claw.api.replies.RECHECK_SECONDS).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from claw.agent import AgentReply
from claw.api import replies
from claw.api.replies import RECHECK_SECONDS
from claw.db import write_session
from claw.db.models import utcnow
from claw.pipeline.turns import commit_reply, pending_messages
from claw.redis_client import reply_channel
from tests.support.api_server import ApiServer
from tests.support.redis_server import LocalRedis


#: the database plays no part in how the waiter wakes: SQLite only, so the module starts one server
@pytest.mark.parametrize("api_server", ["sqlite"], indirect=True)
def test_a_reply_committed_without_an_announcement_still_reaches_the_waiter(
    api_server: ApiServer, api: httpx.Client
) -> None:
    # Given a message whose sender waits for the reply
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(api.post, "/v1/messages", params={"wait": 30},
                              json={"chat_id": "unannounced", "text": "still there?", "sender": "ann"})
        group_id = "http:unannounced"
        watcher = redis.Redis.from_url(api_server.redis_url)
        deadline = time.monotonic() + 20
        while not dict(watcher.pubsub_numsub(reply_channel(group_id))).get(reply_channel(group_id).encode()):
            assert time.monotonic() < deadline, "the waiter never subscribed"
            time.sleep(0.05)
        watcher.close()
        time.sleep(0.5)  # past its first look in the database, which comes right after subscribing
        # When a turn commits its reply and dies before announcing it
        with write_session(api_server.database_url) as session:
            pending = pending_messages(session, group_id)
            commit_reply(session, group_id, pending, AgentReply("yes, here"), "yes, here", started_at=utcnow())
        committed = time.monotonic()
        response = waiting.result(timeout=30)
    # Then the sender gets that reply, within one re-check of the database
    assert response.status_code == 200, response.text
    assert response.json()["reply"]["text"] == "yes, here"
    assert time.monotonic() - committed <= RECHECK_SECONDS + 3


def test_a_waiter_looks_in_the_database_only_at_its_start_at_announcements_and_at_its_end(
    redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a waiter whose database never has the reply (its looks are counted)
    looks: list[int] = []
    monkeypatch.setattr(replies, "find_reply", lambda message_id: looks.append(message_id))

    async def wait_then_announce() -> None:
        client = aioredis.from_url(redis_server.url)
        try:
            waiter = asyncio.create_task(replies.wait_for_reply(client, "http:counted", 7, 1.5))
            # When one announcement comes for its group while it waits
            while not looks:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            await client.publish(reply_channel("http:counted"), "1")
            assert await waiter is None
        finally:
            await client.aclose()

    asyncio.run(wait_then_announce())
    # Then it looked three times: at its start, at the announcement and at its deadline (not
    # also when its subscription was confirmed, nor every second)
    assert looks == [7, 7, 7]
