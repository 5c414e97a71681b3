"""The API's error envelope, produced in one place for every error:
`{"error": {"code", "message", "details", "timestamp", "requestId"}}`.

Page requests (not under /api) get an HTML error page with the same facts, or a redirect to the
sign-in page when they lack a session.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from salescopilot.actor import SYSTEM, current_actor
from salescopilot.errors import DomainError, NotAuthenticated

log = structlog.get_logger("salescopilot.web")

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "NOT_AUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details if details is not None else {},
            "timestamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "requestId": _request_id(),
        }
    }


def _request_id() -> str:
    actor = current_actor()
    # Outside the request pipeline (an unmatched route) there is no request actor yet.
    return actor.request_id if actor is not SYSTEM else uuid.uuid4().hex


def wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "") or request.method == "POST" and (
        request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        )
    )


def _response(request: Request, status: int, code: str, message: str, details: Any) -> Response:
    if status == 401 and wants_html(request):
        return Redirect(path=f"/login?next={request.url.path}")
    if wants_html(request) and request.app.template_engine is not None:
        return Template(
            "error.html",
            context={"status": status, "code": code, "message": message},
            status_code=status,
        )
    body = error_body(code, message, details)
    # Inside the request pipeline the X-Request-Id header is added on the way out; an error met
    # before it (an unknown route) carries the envelope's id itself.
    headers = {"X-Request-Id": body["error"]["requestId"]} if current_actor() is SYSTEM else None
    return Response(body, status_code=status, headers=headers)


def domain_error_handler(request: Request, exc: DomainError) -> Response:
    return _response(request, exc.status_code, exc.code, exc.message, exc.details)


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        details = {"errors": exc.extra} if exc.extra else {}
        return _response(request, 400, "VALIDATION_ERROR", _validation_message(exc), details)
    if isinstance(exc, NotAuthorizedException):
        return domain_error_handler(request, NotAuthenticated())
    code = _HTTP_CODES.get(status, "HTTP_ERROR" if status < 500 else "INTERNAL_ERROR")
    message = exc.detail if status < 500 else "An unexpected error occurred."
    return _response(request, status, code, message, {})


def _validation_message(exc: ValidationException) -> str:
    detail = exc.detail or "Validation failed"
    if detail.startswith("Validation failed for"):
        return "The request is not valid."
    return detail


def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path, method=request.method)
    return _response(
        request, HTTP_500_INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "An unexpected error occurred.", {}
    )


EXCEPTION_HANDLERS = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
