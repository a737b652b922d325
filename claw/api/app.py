"""The FastAPI application (``uvicorn claw.api.app:create_app --factory``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from claw.api import agent_routes, events, failed_routes, metrics, schedule_routes, task_routes
from claw.api.routes import api, public
from claw.config import get_settings

MAX_BODY_BYTES = 256 * 1024


def _describe(errors: list[dict]) -> str:  # type: ignore[type-arg]
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(parts)


def create_app() -> FastAPI:
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = aioredis.from_url(settings.resolved_redis_url, socket_connect_timeout=2)
        yield
        await app.state.redis.aclose()

    app = FastAPI(title="claw", version="0.1.0", lifespan=lifespan)
    app.include_router(public)
    app.include_router(api)
    app.include_router(agent_routes.router)
    app.include_router(events.router)
    app.include_router(schedule_routes.router)
    app.include_router(task_routes.router)
    app.include_router(failed_routes.router)
    app.include_router(metrics.router)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse(
                {"error": f"request body larger than {MAX_BODY_BYTES} bytes"},
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        return JSONResponse(
            {"error": _describe(list(errors)), "detail": jsonable(errors)},
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )

    return app


def jsonable(errors: object) -> object:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(errors, custom_encoder={Exception: str, bytes: lambda b: b[:100].decode(errors="replace")})
