"""The error envelope in the OpenAPI schema.

Every JSON API operation can answer with the envelope of `salescopilot.web.errors`; the schema says
so, so clients (and the schemathesis run in the test suite) can rely on it. `document_api_errors`
adds the statuses every `/api/` operation may produce to each handler; a handler adds its own
(409, 422, ...) with `responses=error_responses(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema

API_PREFIX = "/api/"


class ErrorDetail(msgspec.Struct):
    code: str
    message: str
    #: Structured facts about the error (the field at fault, allowed values, ...); `{}` if none.
    details: dict[str, Any]
    timestamp: str
    requestId: str  # noqa: N815 - the wire name


class ErrorEnvelope(msgspec.Struct):
    """`{"error": {"code", "message", "details", "timestamp", "requestId"}}`."""

    error: ErrorDetail


#: What any API operation may answer: invalid input, no or a bad credential, a missing permission,
#: an unknown host or resource.
COMMON_STATUSES = (400, 401, 403, 404)
#: Operations with a request body may also refuse one over `settings.max_request_body`.
BODY_STATUSES = (413,)


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` entries documenting the error envelope for `statuses`."""
    return {
        status: ResponseSpec(
            data_container=ErrorEnvelope,
            description=HTTPStatus(status).phrase,
            generate_examples=False,
        )
        for status in statuses
    }


def document_api_errors(app: Litestar) -> None:
    """Add the common error responses to every JSON API handler of `app` (before the schema is
    first built); responses a handler declares itself win."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if (
                not isinstance(handler, HTTPRouteHandler)
                or not route.path.startswith(API_PREFIX)
                or handler.opt.get("tenantless")
            ):
                continue
            statuses = COMMON_STATUSES
            if "data" in handler.parsed_fn_signature.parameters:
                statuses += BODY_STATUSES
            handler.responses = {**error_responses(*statuses), **(handler.responses or {})}


def text_download(*media_types: str) -> type[Operation]:
    """`operation_class=` for a handler that streams text in one of `media_types` (chosen by a
    query parameter, say): its 200 answer is documented with each of them instead of JSON."""

    @dataclass
    class TextDownload(Operation):
        def __post_init__(self) -> None:
            ok = (self.responses or {}).get("200")
            if isinstance(ok, OpenAPIResponse):
                ok.content = {
                    media_type: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
                    for media_type in media_types
                }

    return TextDownload
