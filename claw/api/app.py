"""The FastAPI application (``uvicorn claw.api.app:create_app --factory``).

No input gets a 5xx: the Gate refuses a request without the token or with too large a
declared body before its body is read, Starlette's body limit stops reading a chunked body at
the limit, request models refuse what cannot be stored (claw.api.schemas), and every
error has the ``error`` field (claw.api.errors). The OpenAPI schema is at /openapi.json behind
the token; /docs and /redoc are off, since a browser cannot send a bearer token to them.
The chat page (``/`` and its files, claw.api.web_routes) is public: it holds no data and
sends the token with each call it makes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from claw.api import (
    agent_routes,
    events,
    failed_routes,
    metrics,
    openai_routes,
    pairing_routes,
    schedule_routes,
    task_routes,
    web_routes,
)
from claw.api.errors import MAX_BODY_BYTES, install_error_handlers
from claw.api.gate import PUBLIC_PATHS, Gate
from claw.api.group_path import GroupIdPath
from claw.api.routes import api, public
from claw.config import get_settings

API_DESCRIPTION = (
    "Every route but `/healthz` needs `Authorization: Bearer <CLAW_API_TOKEN>` (this schema too). "
    "Every error is JSON `{\"error\": \"<what is wrong>\", \"detail\": ...}`. "
    "`/v1/chat/completions` and `/v1/models` speak OpenAI's format (base URL `<server>/v1`)."
)


def operation_id(route: APIRoute) -> str:
    """The handler's name (``post_message``, ``chat_completions``): what generated clients
    call their methods, rather than FastAPI's ``post_message_v1_messages_post``."""
    return route.name


def create_app() -> FastAPI:
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = aioredis.from_url(settings.resolved_redis_url, socket_connect_timeout=2)
        yield
        await app.state.redis.aclose()

    app = FastAPI(title="claw", version="0.1.0", description=API_DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, generate_unique_id_function=operation_id)
    app.include_router(public, tags=["health"])
    app.include_router(api, tags=["messages and groups"])
    app.include_router(agent_routes.router, tags=["agent"])
    app.include_router(events.router, tags=["events"])
    app.include_router(schedule_routes.router, tags=["schedules"])
    app.include_router(task_routes.router, tags=["tasks"])
    app.include_router(failed_routes.router, tags=["failed messages"])
    app.include_router(pairing_routes.router, tags=["pairing"])
    app.include_router(metrics.router, tags=["metrics"])
    app.include_router(openai_routes.router, tags=["OpenAI-compatible"])
    app.include_router(web_routes.router)
    # Starlette's body limit as a middleware of ours rather than FastAPI(max_body_size=): that
    # one sits outside every user middleware and would turn the Gate's 401 for a large
    # declared body into its own plain-text 413. The last added is the outermost: the Gate.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY_BYTES)
    app.add_middleware(Gate, public_paths=PUBLIC_PATHS | web_routes.PUBLIC_PATHS)
    app.add_middleware(GroupIdPath)  # a '/' in a group id (escaped) routes to the group
    install_error_handlers(app)
    return app
