"""The service provider's endpoints under `/sso/saml`: metadata, login, the assertion consumer
service (ACS), single logout."""

from __future__ import annotations

import json
import secrets

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from salescopilot.accounts.pages import session_cookie_response, start_session
from salescopilot.sso import saml
from salescopilot.sso.errors import SsoNotConfigured
from salescopilot.tenancy.context import current_tenant, keep_writes_on_error
from salescopilot.web.deps import public_origin, safe_next, sso_login_service, sso_settings_service

SAML_CONTENT_TYPE = "application/samlmetadata+xml"
#: Binds a sign-in to the browser that started it. SameSite=None so the IdP's cross-site POST
#: carries it, which browsers allow only on Secure cookies: set only with secure cookies.
BROWSER_COOKIE = "sc_saml"


def with_browser_binding(request: Request, response: Response, nonce: str) -> Response:
    if nonce:
        response.set_cookie(BROWSER_COOKIE, nonce, path="/sso/saml/acs", httponly=True, secure=True,
                            samesite="none", max_age=600)
    return response


def new_browser_nonce(request: Request) -> str:
    return secrets.token_urlsafe(24) if request.app.state.settings.secure_cookies else ""


def sp_endpoints(request: Request) -> saml.SpEndpoints:
    """This tenant's SP URLs at the origin the user reached."""
    return saml.SpEndpoints(origin=public_origin(request))


class SamlController(Controller):
    path = "/sso/saml"
    include_in_schema = False
    opt = {"permission": "public"}

    @get("/metadata")
    async def metadata(self, request: Request) -> Response:
        """The SP metadata to give the IdP (entity ID, ACS, SLO, signing certificate)."""
        service = sso_settings_service(request)
        connection = await service.require_connection()
        xml = saml.sp_metadata(sp_endpoints(request), service.idp_config(connection))
        return Response(xml, media_type=SAML_CONTENT_TYPE)

    @get("/login", opt={"writes": True})
    async def login(self, request: Request, next: str | None = None) -> Response:
        """SP-initiated sign-in: off to the IdP with an AuthnRequest; back at the ACS."""
        nonce = new_browser_nonce(request)
        try:
            url = await sso_login_service(request).begin(sp_endpoints(request), safe_next(next), browser=nonce)
        except SsoNotConfigured as error:
            return Template("login.html", context={"next": safe_next(next), "error": error.message, "email": ""},
                            status_code=404)
        return with_browser_binding(request, Redirect(path=url), nonce)

    @post("/acs", opt={"exclude_from_csrf": True}, request_max_body_size=1_048_576)
    async def acs(self, request: Request) -> Response:
        """The IdP posts its Response here (HTTP-POST binding): checked, then a session."""
        form = await request.form()
        saml_response = str(form.get("SAMLResponse", ""))
        relay_state = form.get("RelayState")
        outcome = await sso_login_service(request).finish(
            sp_endpoints(request), saml_response, str(relay_state)[:2000] if relay_state else None,
            browser=request.cookies.get(BROWSER_COOKIE),
        )
        if outcome.purpose == "test":
            return Template(
                "sso_test_result.html",
                context={
                    "outcome": outcome,
                    "attributes": json.dumps(outcome.assertion.attributes, indent=2, ensure_ascii=False)
                    if outcome.assertion else "",
                    "xml": saml.decoded_xml(saml_response),
                },
                status_code=200 if outcome.accepted else 400,
            )
        if not outcome.accepted:
            # The details are in the audit log; a stranger learns only that it failed.
            return Template("sso_error.html", context={"reason": outcome.reason}, status_code=401)
        assertion = outcome.assertion
        return await start_session(
            request, outcome.user.id, safe_next(outcome.next_path),
            lifetime=outcome.session_lifetime,
            sso={"name_id": assertion.name_id, "name_id_format": assertion.name_id_format,
                 "session_index": assertion.session_index},
        )

    @get("/slo", opt={"writes": True})
    async def single_logout(self, request: Request) -> Response:
        """The IdP's LogoutRequest (end this user's sessions here, answer) or its
        LogoutResponse to ours (HTTP-Redirect binding, signed)."""
        query = {k: v for k, v in request.query_params.items() if isinstance(v, str) and k != "__raw__"}
        query["__raw__"] = request.scope.get("query_string", b"").decode("latin-1")[:65536]
        service = sso_login_service(request)
        sp = sp_endpoints(request)
        try:
            if "SAMLRequest" in query:
                user_id, url = await service.answer_idp_logout(sp, query)
                if user_id is not None:
                    await request.app.state.services.sessions.end_all_for_user(user_id, current_tenant().id)
                return session_cookie_response(request, Redirect(path=url), None)
            if "SAMLResponse" in query:
                await service.finish_logout(sp, query)
                return Redirect(path="/login")
        except saml.SamlRefused as refusal:
            await service.record_logout_refused(refusal)
            keep_writes_on_error()
            return Template("sso_error.html", context={"reason": refusal.reason}, status_code=400)
        return Template("sso_error.html", context={"reason": "malformed"}, status_code=400)


async def single_logout_redirect(request: Request, sso: dict | None) -> str | None:
    """Where to send a browser whose SAML session just ended: the IdP's single logout service
    with our signed LogoutRequest, or None when the session was not SAML or the IdP has none."""
    if not sso:
        return None
    return await sso_login_service(request).begin_logout(sp_endpoints(request), sso)
