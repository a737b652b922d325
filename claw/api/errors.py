"""The one shape of every error the API returns: ``{"error": "<what is wrong>", "detail": ...}``.

``error`` is a sentence for people; ``detail`` keeps what FastAPI clients expect (the field
list of a 422, or the same sentence). The handlers here give that shape to every
HTTPException (404, 405, 413, 422 of the task route), every validation error and any crash;
the ``*_RESPONSES`` dicts write it into the OpenAPI schema, so the schema says what a client
gets. Error bodies may echo the input, which can hold lone surrogates that cannot be encoded
as UTF-8: every string in them is made encodable first, or the error would become a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from claw.db.text import storable

log = logging.getLogger(__name__)

#: what FastAPI says of a body it cannot decode (not UTF-8, or nested too deep)
FASTAPI_BODY_ERROR = "There was an error parsing the body"

#: largest request body, in bytes: a JSON message of the longest text fits with room to spare
MAX_BODY_BYTES = 256 * 1024


class ApiError(BaseModel):
    """What every 4xx (and a 500) carries."""

    error: str  #: what is wrong, in words
    detail: Any = None  #: for a 422 the problems per field; otherwise the same text


def _encodable(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(v) for v in value]
    return value


def error_response(
    status_code: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": error, "detail": error if detail is None else detail}
    return JSONResponse(_encodable(body), status_code=status_code, headers=headers)


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(parts)


def _jsonable(errors: object) -> object:
    return jsonable_encoder(
        errors, custom_encoder={Exception: str, bytes: lambda b: b[:100].decode(errors="replace")}
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message, headers = str(exc.detail), exc.headers
    if exc.status_code == status.HTTP_413_CONTENT_TOO_LARGE:
        # Starlette's body limit (a body without Content-Length that grew too large) says only
        # "Content Too Large"
        message = f"request body larger than {MAX_BODY_BYTES} bytes"
    elif exc.status_code == status.HTTP_400_BAD_REQUEST and message == FASTAPI_BODY_ERROR:
        message = "the body is not JSON text in UTF-8"
    elif exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        headers = {**(headers or {}), "Allow": ", ".join(sorted(_allowed_methods(request)))}
    return error_response(exc.status_code, message, headers=headers)


#: the methods a 405 may name: every method claw's routes use
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route serves at this path. Starlette's 405 names only the methods of
    the first route that matched the path, so GET and PUT of one path would each hide the
    other; routes are asked by matching, since FastAPI nests included routers."""
    return {
        method for method in METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
               for route in request.app.router.routes)
    }


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    return error_response(
        status.HTTP_422_UNPROCESSABLE_CONTENT, _describe(errors), detail=_jsonable(errors)
    )


async def _crashed(request: Request, exc: Exception) -> JSONResponse:
    # Starlette still re-raises the exception after this response, so the server logs it
    log.error("api_crashed method=%s path=%s error=%s", request.method, request.url.path,
              type(exc).__name__)
    return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR,
                          "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _crashed)


def _documented(description: str) -> dict[str, Any]:
    # content spelled out rather than `model=`: FastAPI would document the error under the
    # route's own media type, text/event-stream for the events route
    return {"description": description,
            "content": {"application/json": {"schema": ApiError.model_json_schema()}}}


#: what every route can answer, before it looks at its input
PUBLIC_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: _documented(f"the request body is larger than {MAX_BODY_BYTES} bytes"),
}
#: ... and what every route behind the bearer token can answer
GUARDED_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PUBLIC_RESPONSES,
    400: _documented("the body is not JSON text in UTF-8"),
    401: _documented("missing or wrong bearer token (Authorization: Bearer <CLAW_API_TOKEN>)"),
    422: _documented("invalid input: `error` says which field and why, `detail` lists them"),
}
#: routes about one group (or schedule, or task by name) that may not exist
NOT_FOUND_RESPONSES: dict[int | str, dict[str, Any]] = {404: _documented("no such group")}
TASK_NOT_FOUND_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _documented("no such task; `error` lists the allowed ones"),
    503: _documented("Redis (the broker and result backend) is unreachable; try again later"),
}
TASK_STATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _documented("no task with this id was started through this API, or its result expired"),
    503: _documented("Redis (the result backend) is unreachable; try again later"),
}
