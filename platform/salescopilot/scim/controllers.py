"""SCIM 2.0 over HTTP (`/scim/v2`), authenticated by the tenant's SCIM bearer token. Bodies are
read as plain JSON (Okta and Entra ID differ in what they send), errors answer in SCIM's shape."""

from __future__ import annotations

from typing import Any


from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.exceptions import HTTPException, SerializationException

from salescopilot.errors import DomainError
from salescopilot.scim import protocol as p
from salescopilot.scim.tokens import SCIM_PERMISSION
from salescopilot.web.deps import public_origin, scim_group_service, scim_service
from salescopilot.web.errors import _HTTP_CODES as HTTP_ERROR_CODES
from salescopilot.web.errors import error_body


def scim_response(body: Any, status_code: int = 200, headers: dict | None = None) -> Response:
    return Response(body, status_code=status_code, media_type=p.CONTENT_TYPE, headers=headers)


def scim_domain_error(request: Request, error: DomainError) -> Response:
    """SCIM's error object, with the API's error envelope beside it (clients of either read
    their own keys; the app's tests and logs read the envelope)."""
    if isinstance(error, p.ScimError):
        body = error.body()
    else:
        body = {"schemas": [p.ERROR_SCHEMA], "status": str(error.status_code), "detail": error.message}
    return scim_response({**body, **error_body(error.code, error.message, error.details)}, error.status_code)


def scim_http_error(request: Request, error: HTTPException) -> Response:
    detail = str(error.detail)[:300]
    body = {"schemas": [p.ERROR_SCHEMA], "status": str(error.status_code), "detail": detail}
    if error.status_code == 400:
        body["scimType"] = "invalidSyntax"
    code = HTTP_ERROR_CODES.get(error.status_code, "HTTP_ERROR")
    return scim_response({**body, **error_body(code, detail)}, error.status_code)


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except (ValueError, SerializationException, HTTPException):
        raise p.invalid("The body is not JSON.", "invalidSyntax") from None


def _base(request: Request) -> str:
    return public_origin(request) + "/scim/v2"


def _without_members(excluded: str | None) -> bool:
    return bool(excluded) and "members" in [a.strip().lower() for a in excluded.split(",")]


class ScimController(Controller):
    path = "/scim/v2"
    include_in_schema = False
    opt = {"permission": SCIM_PERMISSION, "exclude_from_csrf": True}
    exception_handlers = {DomainError: scim_domain_error, HTTPException: scim_http_error}

    @get("/ServiceProviderConfig")
    async def service_provider_config(self) -> Response:
        return scim_response({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": p.MAX_COUNT},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [{
                "type": "oauthbearertoken", "name": "Bearer token",
                "description": "The SCIM token from the organisation's SSO settings page.",
            }],
        })

    @get("/ResourceTypes")
    async def resource_types(self) -> Response:
        types = [
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User", "name": "User",
             "endpoint": "/Users", "schema": p.USER_SCHEMA,
             "schemaExtensions": [{"schema": p.ENTERPRISE_SCHEMA, "required": False}]},
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "Group", "name": "Group",
             "endpoint": "/Groups", "schema": p.GROUP_SCHEMA},
        ]
        return scim_response(p.list_response(types, len(types), 1))

    # -- users ---------------------------------------------------------------------------------

    @get("/Users")
    async def list_users(self, request: Request, filter: str | None = None, startIndex: int | None = None,
                         count: int | None = None) -> Response:
        return scim_response(await scim_service(request).list_users(filter, startIndex, count, _base(request)))

    @get("/Users/{user_id:str}")
    async def get_user(self, request: Request, user_id: str) -> Response:
        return scim_response(await scim_service(request).get_user(user_id, _base(request)))

    @post("/Users")
    async def create_user(self, request: Request) -> Response:
        resource = await scim_service(request).create_user(await _body(request), _base(request))
        return scim_response(resource, 201, headers={"Location": resource["meta"]["location"]})

    @put("/Users/{user_id:str}")
    async def replace_user(self, request: Request, user_id: str) -> Response:
        return scim_response(await scim_service(request).replace_user(user_id, await _body(request), _base(request)))

    @patch("/Users/{user_id:str}")
    async def patch_user(self, request: Request, user_id: str) -> Response:
        return scim_response(await scim_service(request).patch_user(user_id, await _body(request), _base(request)))

    @delete("/Users/{user_id:str}", status_code=204)
    async def delete_user(self, request: Request, user_id: str) -> None:
        await scim_service(request).delete_user(user_id)

    # -- groups --------------------------------------------------------------------------------

    @get("/Groups")
    async def list_groups(self, request: Request, filter: str | None = None, startIndex: int | None = None,
                          count: int | None = None, excludedAttributes: str | None = None) -> Response:
        return scim_response(await scim_group_service(request).list_groups(
            filter, startIndex, count, _base(request), with_members=not _without_members(excludedAttributes)
        ))

    @get("/Groups/{group_id:str}")
    async def get_group(self, request: Request, group_id: str, excludedAttributes: str | None = None) -> Response:
        return scim_response(await scim_group_service(request).get_group(
            group_id, _base(request), with_members=not _without_members(excludedAttributes)
        ))

    @post("/Groups")
    async def create_group(self, request: Request) -> Response:
        resource = await scim_group_service(request).create_group(await _body(request), _base(request))
        return scim_response(resource, 201, headers={"Location": resource["meta"]["location"]})

    @put("/Groups/{group_id:str}")
    async def replace_group(self, request: Request, group_id: str) -> Response:
        return scim_response(await scim_group_service(request).replace_group(group_id, await _body(request), _base(request)))

    @patch("/Groups/{group_id:str}")
    async def patch_group(self, request: Request, group_id: str) -> Response:
        return scim_response(await scim_group_service(request).patch_group(group_id, await _body(request), _base(request)))

    @delete("/Groups/{group_id:str}", status_code=204)
    async def delete_group(self, request: Request, group_id: str) -> None:
        await scim_group_service(request).delete_group(group_id)
