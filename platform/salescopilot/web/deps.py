"""Per-request construction of services from the app's shared collaborators (one place, so every
controller builds them the same way)."""

from __future__ import annotations

from litestar.connection import ASGIConnection

from salescopilot.accounts.api_keys import ApiKeyService
from salescopilot.accounts.handoff import TenantHandoff
from salescopilot.accounts.service import AccountService
from salescopilot.accounts.team import TeamService
from salescopilot.scim.groups import ScimGroupService
from salescopilot.scim.service import ScimService
from salescopilot.scim.tokens import ScimTokenService
from salescopilot.sso.login import SsoLoginService
from salescopilot.sso.service import SsoSettingsService


def account_service(connection: ASGIConnection) -> AccountService:
    services = connection.app.state.services
    return AccountService(
        clock=services.clock,
        secret_box=services.secret_box,
        permissions=services.permissions,
        throttle=services.throttle,
    )


def handoff_service(connection: ASGIConnection) -> TenantHandoff:
    services = connection.app.state.services
    return TenantHandoff(
        secret_key=services.settings.secret_key.get_secret_value(),
        used_tokens=services.used_handoff_tokens,
        clock=services.clock,
        base_domain=services.settings.base_domain,
    )


def team_service(connection: ASGIConnection) -> TeamService:
    return TeamService(clock=connection.app.state.services.clock)


def api_key_service(connection: ASGIConnection) -> ApiKeyService:
    services = connection.app.state.services
    return ApiKeyService(clock=services.clock, permissions=services.permissions)


def sso_settings_service(connection: ASGIConnection) -> SsoSettingsService:
    services = connection.app.state.services
    return SsoSettingsService(clock=services.clock, secret_box=services.secret_box)


def sso_login_service(connection: ASGIConnection) -> SsoLoginService:
    services = connection.app.state.services
    return SsoLoginService(
        settings=sso_settings_service(connection),
        accounts=account_service(connection),
        state=services.saml_state,
        clock=services.clock,
    )


def scim_service(connection: ASGIConnection) -> ScimService:
    services = connection.app.state.services
    return ScimService(
        clock=services.clock,
        sessions=services.sessions,
        api_keys=api_key_service(connection),
        accounts=account_service(connection),
    )


def scim_group_service(connection: ASGIConnection) -> ScimGroupService:
    return ScimGroupService(clock=connection.app.state.services.clock)


def scim_token_service(connection: ASGIConnection) -> ScimTokenService:
    return ScimTokenService(clock=connection.app.state.services.clock)


def public_origin(connection: ASGIConnection) -> str:
    """scheme://host[:port] as the user reached us: forwarded host and protocol only from
    trusted proxies (as for tenant resolution); https whenever cookies are secure."""
    from salescopilot.web.middleware import client_address

    state = connection.app.state
    peer = connection.scope.get("client")[0] if connection.scope.get("client") else None
    _, host = client_address(connection.scope, connection.headers, state.trusted_proxies)
    scheme = connection.url.scheme
    if state.trusted_proxies.trusts(peer):
        scheme = connection.headers.get("x-forwarded-proto", scheme).split(",")[0].strip() or scheme
    if state.settings.secure_cookies:
        scheme = "https"
    return f"{scheme}://{host}"


def lead_service(connection: ASGIConnection):
    from salescopilot.leads.service import LeadService

    services = connection.app.state.services
    return LeadService(clock=services.clock, plugin_manager=services.plugin_manager)


def import_service(connection: ASGIConnection):
    from salescopilot.leads.imports import ImportService

    services = connection.app.state.services
    return ImportService(clock=services.clock, var_dir=services.settings.var_dir)


def suppression_service(connection: ASGIConnection):
    from salescopilot.suppression.service import SuppressionService

    return SuppressionService(connection.app.state.services.clock)


def template_service(connection: ASGIConnection):
    from salescopilot.templates.service import TemplateService

    return TemplateService(clock=connection.app.state.services.clock)


def ai_service(connection: ASGIConnection):
    from salescopilot.ai.service import AiService
    from salescopilot.web.guards import principal_of

    services = connection.app.state.services
    principal = principal_of(connection)
    return AiService(clock=services.clock, operator=services.settings.ai, secret_box=services.secret_box,
                     client=services.ai_client, user_id=principal.user_id if principal else None)


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything else (other hosts, `//x`) becomes "/"."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target) or len(target) > 2000:
        return "/"
    return target


def sequence_service(connection: ASGIConnection):
    from salescopilot.sequences.service import SequenceService

    return SequenceService(clock=connection.app.state.services.clock)


def campaign_service(connection: ASGIConnection):
    from salescopilot.campaigns.service import CampaignService

    services = connection.app.state.services
    return CampaignService(services.settings.outbox, clock=services.clock)


def enrollment_service(connection: ASGIConnection):
    from salescopilot.campaigns.enrollments import EnrollmentService

    services = connection.app.state.services
    return EnrollmentService(services.settings.outbox, clock=services.clock, plugin_manager=services.plugin_manager)


def composer_service(connection: ASGIConnection):
    from salescopilot.composer.service import ComposerService

    state = connection.app.state
    return ComposerService(clock=state.services.clock, outbox=state.settings.outbox)
