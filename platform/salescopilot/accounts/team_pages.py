"""Pages: the team (invite by link, change role, remove), accepting an invitation, API keys."""

from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from salescopilot.accounts.permissions import ROLES, can_assign
from salescopilot.accounts.repository import UserRepository
from salescopilot.errors import DomainError
from salescopilot.listing import ListQuery
from salescopilot.web.deps import api_key_service, team_service
from salescopilot.web.guards import principal_of


class TeamPages(Controller):
    path = "/team"
    include_in_schema = False

    async def _render(self, request: Request, *, new_link: str | None = None, error: str | None = None,
                      status_code: int = 200) -> Template:
        service = team_service(request)
        principal = principal_of(request)
        members = await service.members(ListQuery(limit=200, sort="created_at", descending=False))
        invites = await service.pending_invites() if principal.can("team.manage") else []
        return Template(
            "team.html",
            context={
                "members": members.items,
                "invites": invites,
                "roles": ROLES,
                "assignable": [r for r in ROLES if can_assign(principal.role, r)],
                "principal": principal,
                "new_link": new_link,
                "error": error,
            },
            status_code=status_code,
        )

    @get("/", opt={"permission": "team.view"})
    async def page(self, request: Request) -> Template:
        return await self._render(request)

    @post("/invites", opt={"permission": "team.manage"})
    async def invite(self, request: Request) -> Template:
        form = await request.form()
        try:
            _, token = await team_service(request).invite(
                principal_of(request), str(form.get("email", ""))[:320], str(form.get("role", "member"))
            )
        except DomainError as error:
            return await self._render(request, error=error.message, status_code=error.status_code)
        link = str(request.base_url).rstrip("/") + f"/invite/{token}"
        return await self._render(request, new_link=link)

    @post("/invites/{invite_id:uuid}/revoke", opt={"permission": "team.manage"})
    async def revoke_invite(self, request: Request, invite_id: uuid.UUID) -> Response:
        await team_service(request).revoke_invite(invite_id)
        return Redirect(path="/team")

    @post("/members/{member_id:uuid}/role", opt={"permission": "team.manage"})
    async def change_role(self, request: Request, member_id: uuid.UUID) -> Response:
        form = await request.form()
        try:
            await team_service(request).change_role(principal_of(request), member_id, str(form.get("role", "")))
        except DomainError as error:
            return await self._render(request, error=error.message, status_code=error.status_code)
        return Redirect(path="/team")

    @post("/members/{member_id:uuid}/remove", opt={"permission": "team.manage"})
    async def remove(self, request: Request, member_id: uuid.UUID) -> Response:
        try:
            await team_service(request).remove(principal_of(request), member_id)
        except DomainError as error:
            return await self._render(request, error=error.message, status_code=error.status_code)
        return Redirect(path="/team")


class InvitePages(Controller):
    path = "/invite"
    include_in_schema = False
    opt = {"permission": "public"}

    @get("/{token:str}")
    async def page(self, request: Request, token: str) -> Template:
        try:
            invite = await team_service(request).open_invite(token)
        except DomainError as error:
            return Template("invite.html", context={"invite": None, "error": error.message, "token": ""},
                            status_code=error.status_code)
        return Template("invite.html", context={"invite": invite, "error": None, "token": token})

    @post("/{token:str}")
    async def accept(self, request: Request, token: str) -> Response:
        from salescopilot.accounts.pages import start_session

        form = await request.form()
        service = team_service(request)
        principal = request.scope.get("principal")
        try:
            user = await service.accept_invite(
                token,
                user=await UserRepository().by_id(principal.user_id) if principal else None,
                email=str(form.get("email", ""))[:320],
                name=str(form.get("name", ""))[:200],
                password=str(form.get("password", ""))[:1024],
            )
        except DomainError as error:
            invite = None
            try:
                invite = await service.open_invite(token)
            except DomainError:
                pass
            return Template("invite.html", context={"invite": invite, "error": error.message, "token": token},
                            status_code=error.status_code)
        return await start_session(request, user.id, "/")


class ApiKeyPages(Controller):
    path = "/settings/api-keys"
    include_in_schema = False

    async def _render(self, request: Request, *, new_key: str | None = None, error: str | None = None,
                      status_code: int = 200) -> Template:
        principal = principal_of(request)
        page = await api_key_service(request).list(ListQuery(limit=200, sort="created_at", descending=True))
        return Template(
            "api_keys.html",
            context={
                "keys": page.items,
                "assignable": [r for r in ROLES if can_assign(principal.role, r)],
                "new_key": new_key,
                "error": error,
                "principal": principal,
            },
            status_code=status_code,
        )

    @get("/", opt={"permission": "api_keys.view"})
    async def page(self, request: Request) -> Template:
        return await self._render(request)

    @post("/", opt={"permission": "api_keys.manage"})
    async def create(self, request: Request) -> Template:
        form = await request.form()
        try:
            _, token = await api_key_service(request).create(
                principal_of(request), str(form.get("name", ""))[:100], str(form.get("role", "viewer"))
            )
        except DomainError as error:
            return await self._render(request, error=error.message, status_code=error.status_code)
        return await self._render(request, new_key=token)

    @post("/{key_id:uuid}/revoke", opt={"permission": "api_keys.manage"})
    async def revoke(self, request: Request, key_id: uuid.UUID) -> Response:
        await api_key_service(request).revoke(key_id)
        return Redirect(path="/settings/api-keys")
