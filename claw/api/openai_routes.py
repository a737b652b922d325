"""An OpenAI-compatible face: ``POST /v1/chat/completions`` and ``GET /v1/models``.

So the openai SDK and chat front-ends built for it can talk to claw (base URL
``http://<host>:<port>/v1``, API key = the claw API token). A request is one turn of a claw
group, not a stateless completion:

* the conversation is the group ``api:<name>``, where the name is the ``X-Claw-Chat`` header,
  else the request's ``user`` field, else ``default``;
* claw keeps the conversation itself (history, memory, tools), so only the **last** message
  of ``messages`` is new: it must be the user's, and it is stored like any chat message;
  the earlier ones (a client's copy of the history) and the sampling options are ignored;
* the reply is that message's answer from the normal pipeline (stored, queued, answered by a
  worker with the group's tools and memory, committed once), awaited up to ``MAX_WAIT``;
* ``stream: true`` answers with server-sent chunks in OpenAI's format: the assistant role at
  once, keep-alive comments while the turn runs, the reply text, the stop chunk, then
  ``data: [DONE]``. The text comes in one chunk when the turn commits (claw does not pass
  half-written replies to this route).
* an ``Idempotency-Key`` header makes a retried request one message (the openai SDK retries
  timeouts and 5xx, but sends no key of its own: pass one with ``extra_headers``);
* ``?wait=`` shortens the wait (clients pass it as the SDK's ``extra_query``).

Errors have claw's shape (``{"error": "...", "detail": ...}``, claw/api/errors.py); a reply
that does not come in time is a 504 (in a stream: an ``error`` chunk, which the SDK raises).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from claw.api.auth import require_token
from claw.api.errors import GUARDED_RESPONSES, ApiError
from claw.api.replies import wait_for_reply
from claw.api.schemas import NAME_PATTERN, Text
from claw.config import get_settings
from claw.db import write_session
from claw.pipeline.dispatch import enqueue_turn
from claw.pipeline.inbox import IncomingMessage, StoredMessage, store_message


class EventStream(StreamingResponse):
    """OpenAI's chunk stream: server-sent ``data:`` lines, framed here (the chunks are few and
    the wait is bounded by ``wait``, so sse-starlette's shutdown watch is not needed)."""

    media_type = "text/event-stream"


router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=GUARDED_RESPONSES)

MODEL_ID = "claw"
#: seconds a completion waits for claw's turn; then 504 (the message stays and is answered)
MAX_WAIT = 120.0
KEEPALIVE_SECONDS = 10.0
CHANNEL = "api"
DEFAULT_CHAT = "default"

ChatName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NAME_PATTERN)]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NAME_PATTERN)]


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: Text | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"] = Field(
        description="who said it; the last message must be the user's")
    content: Text | list[TextPart] | None = None
    name: ChatName | None = Field(default=None, description="the sender's name in the group")

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body; fields claw has no use for (temperature, tools, …) are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(default=MODEL_ID, max_length=200, description="any name; claw answers as `claw`")
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    user: ChatName | None = Field(default=None, description="names the conversation: group `api:<user>`")

    @model_validator(mode="after")
    def _last_is_a_users_text(self) -> ChatCompletionRequest:
        last = self.messages[-1]
        if last.role != "user":
            raise ValueError(f"the last message must be the user's (role user), not {last.role!r}")
        text = last.text()
        if not text.strip():
            raise ValueError("the last message has no text")
        if len(text) > get_settings().api_max_text:
            raise ValueError(f"the last message is longer than {get_settings().api_max_text} characters")
        return self


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = MODEL_ID
    choices: list[Choice]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "claw"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


#: when claw's model card says it was made (a fixed date: clients sort and cache by it)
MODEL_CREATED = 1_767_225_600


@router.get("/models", response_model=ModelList)
def list_models() -> ModelList:
    """The one model OpenAI clients can pick: claw itself."""
    return ModelList(data=[ModelCard(id=MODEL_ID, created=MODEL_CREATED)])


def _accept(chat: str, sender: str, text: str, idempotency_key: str | None) -> StoredMessage:
    with write_session() as session:
        stored = store_message(session, IncomingMessage(CHANNEL, chat, sender, text, idempotency_key))
    if stored.created:
        enqueue_turn(stored.group_id, priority=stored.priority)
    return stored


TIMEOUT_ERROR = "claw did not answer within {s:g} s; the message is kept and will be answered in the chat"
COMPLETION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "claw's reply; with `stream: true` server-sent chunks ending in `data: [DONE]`",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}},
    504: {"description": "no reply within the wait; the message is kept and answered later",
          "content": {"application/json": {"schema": ApiError.model_json_schema()}}},
}


@router.post("/chat/completions", response_model=ChatCompletion, responses=COMPLETION_RESPONSES)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    x_claw_chat: Annotated[ChatName | None, Header(description="names the conversation (wins over `user`)")] = None,
    idempotency_key: Annotated[IdempotencyKey | None, Header(
        description="names the message in its conversation: a retry with the same key is stored and "
                    "answered once, and gets the first one's reply")] = None,
    wait: float = Query(default=MAX_WAIT, gt=0, le=MAX_WAIT, description="seconds to wait for claw's reply"),
) -> Any:
    """One turn of claw in the group `api:<X-Claw-Chat header, else user, else default>`."""
    chat = _header_text(x_claw_chat) or body.user or DEFAULT_CHAT
    last = body.messages[-1]
    stored = await run_in_threadpool(_accept, chat, last.name or "user", last.text(), idempotency_key)
    created = int(time.time())
    if body.stream:
        return EventStream(_chunks(request, stored, created, wait), headers={"Cache-Control": "no-cache"})
    reply = await wait_for_reply(request.app.state.redis, stored.group_id, stored.id, wait)
    if reply is None:
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, detail=TIMEOUT_ERROR.format(s=wait))
    return ChatCompletion(id=f"chatcmpl-{stored.id}", created=created,
                          choices=[Choice(message=AssistantMessage(content=reply.text))])


def _header_text(value: str | None) -> str | None:
    """A header's text: clients send UTF-8 (``X-Claw-Chat: Küche``), which the server hands over
    decoded as Latin-1 (``KÃ¼che``); decoded again, so the header and ``user`` name one group."""
    if not value:
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _chunk(completion_id: str, created: int, delta: dict[str, str], finish: str | None = None) -> str:
    data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(data)}\n\n"


async def _chunks(request: Request, stored: StoredMessage, created: int, limit: float) -> AsyncIterator[str]:
    completion_id = f"chatcmpl-{stored.id}"
    yield _chunk(completion_id, created, {"role": "assistant", "content": ""})
    deadline = time.monotonic() + limit
    reply = None
    while reply is None and time.monotonic() < deadline:
        if await request.is_disconnected():
            return  # the message is stored: claw answers it in the group anyway
        wait = min(KEEPALIVE_SECONDS, deadline - time.monotonic())
        reply = await wait_for_reply(request.app.state.redis, stored.group_id, stored.id, wait)
        if reply is None:
            yield ": keep-alive\n\n"
    if reply is None:
        error = {"message": TIMEOUT_ERROR.format(s=limit), "type": "timeout", "code": "504"}
        yield f"data: {json.dumps({'error': error})}\n\n"
        return
    yield _chunk(completion_id, created, {"content": reply.text})
    yield _chunk(completion_id, created, {}, finish="stop")
    yield "data: [DONE]\n\n"

