"""HTTP-triggered tasks, for other systems: POST /v1/tasks/{name}, GET /v1/tasks/{task_id}.

Only an allowlist of tasks may be started, each with a schema for its arguments, so the API
never becomes a way to run arbitrary Celery tasks with arbitrary input.

Celery cannot tell an unknown task id from one that waits in the queue (both are PENDING), so
each id this route issues is kept in Redis as long as its result is (``result_expires``); any
other id is a 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from celery.result import AsyncResult
from celery.utils import uuid
from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError

from claw.api.auth import require_token
from claw.api.errors import GUARDED_RESPONSES, TASK_NOT_FOUND_RESPONSES, TASK_STATE_RESPONSES
from claw.api.schemas import REQUEST_BODY, Name, Text
from claw.celery_app import app as celery_app
from claw.config import get_settings
from claw.pipeline.routing import IO_QUEUE
from claw.redis_client import get_redis

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=GUARDED_RESPONSES)

T = TypeVar("T")


class NoArguments(BaseModel):
    model_config = REQUEST_BODY


class IngestArguments(BaseModel):
    """A message from another system, stored and answered like any other."""

    model_config = REQUEST_BODY

    channel: Literal["http", "terminal", "web", "api", "whatsapp", "telegram"]
    chat_id: Name = Field(min_length=1, max_length=200)
    sender: Name = Field(min_length=1, max_length=100)
    text: Text = Field(min_length=1, max_length=get_settings().api_max_text)
    external_id: Text | None = Field(default=None, min_length=1, max_length=255)


#: task name -> the arguments it accepts (as keyword arguments)
ALLOWED_TASKS: dict[str, type[BaseModel]] = {
    "claw.ingest": IngestArguments,
    "claw.poll": NoArguments,
    "claw.sweep": NoArguments,
    "claw.scheduler.tick": NoArguments,
}


class TaskStarted(BaseModel):
    task_id: str
    name: str


class TaskState(BaseModel):
    task_id: str
    state: str  #: PENDING (not started yet), STARTED, SUCCESS, FAILURE, RETRY
    result: Any = None
    error: str | None = None


#: Redis key that marks a task id issued by POST /v1/tasks/{name}
ISSUED_KEY = "claw:api:task:{}"


def _issued_for() -> int:
    """Seconds an issued id is known: as long as Celery keeps its result."""
    return int(celery_app.conf.result_expires.total_seconds()
               if hasattr(celery_app.conf.result_expires, "total_seconds")
               else celery_app.conf.result_expires or 86400)


#: longest a task route waits for Redis (the broker and result backend) before a 503
REDIS_WAIT_SECONDS = 10.0


async def _on_redis(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a Celery call that needs Redis; Redis down, refused or hung is a 503 with `error`
    in bounded time, not a 500 (refused) or a request that hangs (a stopped Redis)."""
    try:
        return await asyncio.wait_for(run_in_threadpool(call, *args, **kwargs), REDIS_WAIT_SECONDS)
    except Exception as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"Redis is unreachable ({type(exc).__name__}): try again later",
        ) from None


# One path template for both routes ({task}: a name to start, an id to read), so the OpenAPI
# schema has one path item and a 405 can list both methods.
@router.post("/tasks/{task}", status_code=status.HTTP_202_ACCEPTED, response_model=TaskStarted,
             responses=TASK_NOT_FOUND_RESPONSES)
async def start_task(
    name: Annotated[str, Path(alias="task", max_length=255, description="an allowlisted task name")],
    body: dict[str, Any] | None = None,
) -> TaskStarted:
    schema = ALLOWED_TASKS.get(name)
    if schema is None:
        allowed = ", ".join(sorted(ALLOWED_TASKS))
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no task {name!r}; allowed: {allowed}")
    try:
        arguments = schema.model_validate(body or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=problems) from None
    task_id = uuid()
    # marked first: a caller that reads the state at once must not get a 404
    await _on_redis(get_redis().set, ISSUED_KEY.format(task_id), name, ex=_issued_for())
    await _on_redis(
        celery_app.send_task,
        name,
        task_id=task_id,
        kwargs=arguments.model_dump(exclude_none=True),
        queue=IO_QUEUE,
        ignore_result=False,  # beat-fired runs ignore results; a caller over HTTP wants them
        retry=False,  # Redis down: say so now (503), not after kombu's retries
    )
    return TaskStarted(task_id=task_id, name=name)


@router.get("/tasks/{task}", response_model=TaskState, responses=TASK_STATE_RESPONSES)
async def task_state(
    task_id: Annotated[str, Path(alias="task", max_length=255, description="a task id")],
) -> TaskState:
    if not await _on_redis(get_redis().exists, ISSUED_KEY.format(task_id)):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"no task {task_id!r}: not started here, or its result expired "
                   f"(kept {_issued_for() // 3600} h)",
        )
    result = AsyncResult(task_id, app=celery_app)
    state = await _on_redis(lambda: result.state)
    if state == "SUCCESS":
        return TaskState(task_id=task_id, state=state, result=result.result)
    if state == "FAILURE":
        return TaskState(task_id=task_id, state=state, error=type(result.result).__name__)
    return TaskState(task_id=task_id, state=state)
