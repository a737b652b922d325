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
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from claw.api import agent_routes, events, failed_routes, metrics, schedule_routes, task_routes, web_routes
from claw.api.errors import MAX_BODY_BYTES, install_error_handlers
from claw.api.gate import PUBLIC_PATHS, Gate
from claw.api.routes import api, public
from claw.config import get_settings


def create_app() -> FastAPI:
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = aioredis.from_url(settings.resolved_redis_url, socket_connect_timeout=2)
        yield
        await app.state.redis.aclose()

    app = FastAPI(title="claw", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(public)
    app.include_router(api)
    app.include_router(agent_routes.router)
    app.include_router(events.router)
    app.include_router(schedule_routes.router)
    app.include_router(task_routes.router)
    app.include_router(failed_routes.router)
    app.include_router(metrics.router)
    app.include_router(web_routes.router)
    # Starlette's body limit as a middleware of ours rather than FastAPI(max_body_size=): that
    # one sits outside every user middleware and would turn the Gate's 401 for a large
    # declared body into its own plain-text 413. The last added is the outermost: the Gate.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY_BYTES)
    app.add_middleware(Gate, public_paths=PUBLIC_PATHS | web_routes.PUBLIC_PATHS)
    install_error_handlers(app)
    return app
