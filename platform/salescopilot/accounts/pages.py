"""Pages: sign-in (with TOTP), sign-out, tenant switcher and hand-off, own security settings."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from salescopilot.accounts.errors import InvalidSecondFactor
from salescopilot.accounts.repository import UserRepository, UserTenantRepository
from salescopilot.errors import DomainError, NotAuthenticated
from salescopilot.tenancy.context import current_tenant
from salescopilot.tenancy.repository import TenantCatalogue
from salescopilot.web.deps import account_service, handoff_service, safe_next, sso_settings_service
from salescopilot.web.guards import principal_of

PENDING_COOKIE = "sc_pending"


def session_cookie_response(request: Request, response: Response, token: str | None) -> Response:
    settings = request.app.state.settings
    name = settings.sessions.cookie_name
    if token is None:
        response.delete_cookie(name, path="/")
    else:
        response.set_cookie(
            name, token, path="/", httponly=True, secure=settings.secure_cookies, samesite="lax"
        )
    return response


async def start_session(
    request: Request, user_id: uuid.UUID, redirect_to: str, *, lifetime: int | None = None,
    sso: dict | None = None,
) -> Response:
    sessions = request.app.state.services.sessions
    old = request.cookies.get(request.app.state.settings.sessions.cookie_name)
    await sessions.end(old)  # a new token at every sign-in: no session fixation
    token, _ = await sessions.start(user_id, current_tenant().id, lifetime=lifetime, sso=sso)
    response = Redirect(path=redirect_to)
    response.delete_cookie(PENDING_COOKIE, path="/")
    return session_cookie_response(request, response, token)


class SignInController(Controller):
    include_in_schema = False
    opt = {"permission": "public"}

    @get("/login", name="login")
    async def login_page(self, request: Request, next: str | None = None) -> Response:
        if request.scope.get("principal") is not None:
            return Redirect(path=safe_next(next))
        return Template("login.html", context={
            "next": safe_next(next), "error": None, "email": "", "sso_url": await _sso_url(request, next),
        })

    @post("/login")
    async def login(self, request: Request) -> Response:
        form = await request.form()
        email = str(form.get("email", ""))[:320]
        password = str(form.get("password", ""))[:2000]
        next_path = safe_next(str(form.get("next", "/")))
        service = account_service(request)
        try:
            await sso_settings_service(request).check_password_sign_in(email)
            outcome = await service.sign_in(email, password, _ip(request))
        except DomainError as error:
            return Template(
                "login.html",
                context={"next": next_path, "error": error.message, "email": email,
                         "sso_url": await _sso_url(request, next_path)},
                status_code=error.status_code,
            )
        if outcome.needs_second_factor:
            pending = await request.app.state.services.sessions.start_pending(outcome.user.id, current_tenant().id)
            response = Redirect(path="/login/2fa?" + urlencode({"next": next_path}))
            response.set_cookie(
                PENDING_COOKIE, pending, path="/", httponly=True,
                secure=request.app.state.settings.secure_cookies, samesite="lax", max_age=300,
            )
            return response
        return await start_session(request, outcome.user.id, next_path)

    @get("/login/2fa")
    async def second_factor_page(self, request: Request, next: str | None = None) -> Response:
        if await self._pending(request) is None:
            return Redirect(path="/login")
        return Template("login_2fa.html", context={"next": safe_next(next), "error": None})

    @post("/login/2fa")
    async def second_factor(self, request: Request) -> Response:
        form = await request.form()
        next_path = safe_next(str(form.get("next", "/")))
        pending = await self._pending(request)
        if pending is None:
            return Redirect(path="/login")
        try:
            user = await account_service(request).verify_second_factor(
                uuid.UUID(pending.user_id), str(form.get("code", ""))[:20], _ip(request)
            )
        except DomainError as error:
            return Template(
                "login_2fa.html", context={"next": next_path, "error": error.message},
                status_code=error.status_code,
            )
        await request.app.state.services.sessions.end_pending(request.cookies[PENDING_COOKIE])
        return await start_session(request, user.id, next_path)

    async def _pending(self, request: Request):
        pending = await request.app.state.services.sessions.load_pending(request.cookies.get(PENDING_COOKIE))
        if pending is None or pending.tenant_id != str(current_tenant().id):
            return None
        return pending

    @get("/auth/handoff", opt={"writes": True})  # redeems the token, audits the sign-in
    async def handoff(self, request: Request, token: str) -> Response:
        """Arrive from the tenant switcher on another tenant's host, signed in."""
        user_id = await handoff_service(request).redeem(token, account_service(request))
        if user_id is None:
            return Redirect(path="/login")
        return await start_session(request, user_id, "/")


class SessionController(Controller):
    include_in_schema = False

    @post("/logout", opt={"permission": "public"})
    async def logout(self, request: Request) -> Response:
        from salescopilot.sso.controllers import single_logout_redirect

        principal = request.scope.get("principal")
        sessions = request.app.state.services.sessions
        token = request.cookies.get(request.app.state.settings.sessions.cookie_name)
        session = await sessions.load(token) if token else None
        await sessions.end(token)
        if principal is not None and principal.via == "session":
            await account_service(request).record_sign_out(principal.user_id)
        # A SAML session also ends at the IdP (single logout), when the IdP offers it.
        idp_logout = await single_logout_redirect(request, session.sso if session else None)
        return session_cookie_response(request, Redirect(path=idp_logout or "/login"), None)

    @get("/switch", opt={"permission": "dashboard.view"})
    async def switcher(self, request: Request) -> Template:
        principal = principal_of(request)
        ids = await UserTenantRepository().tenants_of(principal.user_id)
        tenants = await TenantCatalogue().by_ids(ids)
        return Template("switch.html", context={"tenants": tenants, "current": current_tenant()})

    @post("/switch/{tenant_id:uuid}", opt={"permission": "dashboard.view"})
    async def switch(self, request: Request, tenant_id: uuid.UUID) -> Response:
        principal = principal_of(request)
        if principal.via != "session":
            raise NotAuthenticated()
        issued = await handoff_service(request).issue(principal.user_id, tenant_id)
        if issued is None:
            return Redirect(path="/switch")
        host, token = issued
        port = request.url.port
        authority = f"{host}:{port}" if port and port not in (80, 443) else host
        return Redirect(path=f"{request.url.scheme}://{authority}/auth/handoff?token={token}")


class SecurityController(Controller):
    """The signed-in user's own two-factor settings."""

    include_in_schema = False
    path = "/account/security"
    opt = {"permission": "account.manage_own"}

    @get("/")
    async def page(self, request: Request) -> Template:
        user = await self._user(request)
        return Template("security.html", context={"user": user, "enrolment": None, "error": None})

    @post("/totp/begin")
    async def begin(self, request: Request) -> Template:
        user = await self._user(request)
        secret, uri = await account_service(request).begin_totp_enrolment(user)
        return Template("security.html", context={"user": user, "enrolment": {"secret": secret, "uri": uri}, "error": None})

    @post("/totp/confirm")
    async def confirm(self, request: Request) -> Response:
        return await self._with_code(request, "confirm_totp")

    @post("/totp/disable")
    async def disable(self, request: Request) -> Response:
        return await self._with_code(request, "disable_totp")

    async def _with_code(self, request: Request, action: str) -> Response:
        user = await self._user(request)
        form = await request.form()
        try:
            await getattr(account_service(request), action)(user, str(form.get("code", ""))[:20])
        except InvalidSecondFactor as error:
            pending = account_service(request).pending_totp_enrolment(user) if action == "confirm_totp" else None
            enrolment = {"secret": pending[0], "uri": pending[1]} if pending else None
            return Template("security.html", context={"user": user, "enrolment": enrolment, "error": error.message},
                            status_code=400)
        return Redirect(path="/account/security")

    async def _user(self, request: Request):
        principal = principal_of(request)
        if principal.via != "session":
            raise NotAuthenticated()
        return await UserRepository().by_id(principal.user_id)


async def _sso_url(request: Request, next_path: str | None) -> str | None:
    """The "Sign in with SSO" link when the tenant has SSO on."""
    connection = await sso_settings_service(request).connection()
    if connection is None or not connection.enabled:
        return None
    return "/sso/saml/login?" + urlencode({"next": safe_next(next_path)})


def _ip(request: Request) -> str | None:
    from salescopilot.actor import current_actor

    return current_actor().ip
