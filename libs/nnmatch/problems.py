"""RFC 9457 problem details for every HTTP error, so clients get a reason and never a trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = "5"  # what a 503 tells clients to wait: Kafka or Redis away


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extra = extra


# The shape of every error body, for the OpenAPI documents (inline: no components needed).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; 422s also list the offending fields.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
_DOCUMENTED_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The bearer challenge (RFC 6750).",
            "schema": {"type": "string"},
        }
    },
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries saying these statuses answer with a problem document."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "description": _TITLES.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
        if status in _DOCUMENTED_HEADERS:
            entry["headers"] = _DOCUMENTED_HEADERS[status]
        responses[status] = entry
    return responses


def event_log_unavailable(what: str) -> Problem:
    """503 for a write Kafka did not acknowledge: nothing was accepted, the client retries."""
    return Problem(
        503,
        "Service unavailable",
        f"the event log did not acknowledge the {what}; nothing was stored, retry later",
        headers={"Retry-After": RETRY_AFTER_S},
    )


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://nnmatch.dev/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    } | extra
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_errors(errors: Any) -> list[dict[str, str]]:
    """Pydantic errors as `{"field": "offers.kinds.0", "reason": "..."}`, body prefix dropped."""
    out: list[dict[str, str]] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append({"field": ".".join(loc) or "body", "reason": reason})
    return out


_METHODS = ("get", "put", "post", "patch", "delete")


def _problem_entry(status: int) -> dict[str, Any]:
    [entry] = problem_responses(status).values()
    return entry


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document say what errors really look like, for every operation.

    Each 4xx/5xx answer is a problem document (`application/problem+json`), not FastAPI's
    default JSON; and the statuses any operation of ours can answer are listed: 503 (Redis or
    Kafka away), 401 where a token is required, and 400 (unparseable) and 413 (too large) where
    a body is read. Routes still declare the statuses only they answer (404, 429, ...)."""
    for item in schema.get("paths", {}).values():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            implied = [503]
            if operation.get("security"):
                implied.append(401)
            if "requestBody" in operation:
                implied += [400, 413]
            if operation.get("parameters") or "requestBody" in operation:
                implied.append(422)
            for status in implied:
                responses.setdefault(str(status), {})
            for code, response in responses.items():
                if code[:1] in ("4", "5") and code.isdigit():
                    entry = _problem_entry(int(code))
                    response["content"] = entry["content"]
                    if response.get("description") in (None, "", "Validation Error"):
                        response["description"] = entry["description"]
                    if "headers" in entry:
                        response.setdefault("headers", {}).update(entry["headers"])
    return schema


def install_problem_details(app: FastAPI) -> None:
    """Turn validation errors, HTTP errors, `Problem`s and crashes into problem documents
    (and say so in the app's OpenAPI document)."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
        return problem_response(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code,
            _TITLES.get(exc.status_code, "Error"),
            str(exc.detail),
            headers=dict(exc.headers or {}),
        )

    async def _store_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("redis unavailable", extra={"path": request.url.path, "error": str(exc)})
        return problem_response(
            503,
            "Service unavailable",
            "the store (Redis) is unavailable; nothing was changed, retry later",
            headers={"Retry-After": RETRY_AFTER_S},
        )

    app.add_exception_handler(RedisConnectionError, _store_down)
    app.add_exception_handler(RedisTimeoutError, _store_down)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(500, "Internal error", "the server failed; it has been logged")


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    503: "Service unavailable",
}
