"""`create_app`: the one place that wires the Litestar application."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pluggy
import structlog
from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore
from litestar.template.config import TemplateConfig

from salescopilot import __version__
from salescopilot.accounts.permissions import PermissionCatalogue, build_catalogue
from salescopilot.accounts.sessions import SessionManager
from salescopilot.accounts.throttle import LoginThrottle
from salescopilot.clock import Clock, system_clock
from salescopilot.crypto import SecretBox
from salescopilot.db.engine import start_database, stop_database
from salescopilot.mailcatcher.pages import MailCatcherPages
from salescopilot.mailcatcher.server import MailCatcher
from salescopilot.settings import Settings, get_settings
from salescopilot.sso.state import SamlState
from salescopilot.tasks.worker import freeze_startup_heap, task_runtime
from salescopilot.tenancy.resolution import TenantResolver
from salescopilot.tracking.fast_path import TrackingFastPath
from salescopilot.web.assets import missing_vendor_assets
from salescopilot.web.errors import EXCEPTION_HANDLERS
from salescopilot.web.guards import permission_guard
from salescopilot.web.logging import configure_logging
from salescopilot.ai.client import CallPolicy, ModelClient
from salescopilot.web.middleware import RequestPipeline, TrustedProxies
from salescopilot.web.openapi import document_api_errors
from salescopilot.web.request import AppRequest
from salescopilot.web.theming import CORE_STATIC, TenantTemplateEngine, Theming


@dataclass
class AppServices:
    """Process-wide collaborators, built once per app and shared by every request."""

    settings: Settings
    clock: Clock
    secret_box: SecretBox
    permissions: PermissionCatalogue
    sessions: SessionManager
    throttle: LoginThrottle
    plugin_manager: pluggy.PluginManager
    #: Nonces of redeemed tenant hand-off tokens (each works once).
    used_handoff_tokens: Store
    #: Pending SAML requests and the assertion replay cache (in Redis when sessions are).
    saml_state: SamlState
    #: The model client (connection pools per provider, the circuit breaker).
    ai_client: ModelClient


def _store(settings: Settings, namespace: str) -> Store:
    if settings.redis.url and settings.sessions.store == "redis":
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=settings.redis.url, namespace=f"salescopilot:{namespace}")
    if settings.sessions.store == "file":
        folder = Path(settings.var_dir) / "store" / namespace
        # FileStore creates only the last folder itself; a fresh var dir has none of them.
        folder.mkdir(parents=True, exist_ok=True)
        return FileStore(path=folder)
    return MemoryStore()


def create_app(
    settings: Settings | None = None,
    *,
    plugin_manager: pluggy.PluginManager | None = None,
    clock: Clock = system_clock,
    server_process: bool = False,
) -> Litestar:
    """The web app. `server_process=True` (the ASGI entry point) means the app owns its process
    for the process's life: once started it freezes its start-up heap (`freeze_startup_heap`).
    Tests build many apps in one process and leave that off."""
    from salescopilot.plugin_system.manager import create_plugin_manager
    from salescopilot.plugin_system.registry import PluginKind, catalogue_for

    settings = settings or get_settings()
    configure_logging(settings)
    missing = missing_vendor_assets()
    if missing:
        # Pages still render, but without htmx; say so once instead of failing silently.
        structlog.get_logger("salescopilot.web").warning(
            "vendor_assets_missing", files=[str(p) for p in missing], fix="python3 dev.py run"
        )
    pm = plugin_manager or create_plugin_manager(blocked=tuple(settings.blocked_plugins))
    catalogue = catalogue_for(pm)
    permissions = build_catalogue(pm.hook.register_permissions())
    theming = Theming(
        {entry.slug: entry.plugin_class for entry in catalogue.entries(PluginKind.THEME)},
        settings.tenants_dir,
    )
    services = AppServices(
        settings=settings,
        clock=clock,
        secret_box=SecretBox.from_settings(settings),
        permissions=permissions,
        sessions=SessionManager(_store(settings, "sessions"), settings),
        throttle=LoginThrottle(_store(settings, "throttle"), settings.login_throttle),
        plugin_manager=pm,
        used_handoff_tokens=_store(settings, "handoff"),
        saml_state=SamlState(_store(settings, "saml")),
        ai_client=ModelClient(CallPolicy.from_settings(settings.ai)),
    )

    from salescopilot.web.routes import core_route_handlers

    plugin_routes = [handler for handlers in pm.hook.register_routes() for handler in handlers or []]
    # The mail catcher's page exists only while the catcher runs (demo and development).
    catcher_routes = [MailCatcherPages] if settings.mail_catcher.enabled else []

    async def on_startup(app: Litestar) -> None:
        await start_database(settings)
        # Background work: in embedded mode tasks (and periodic tasks) run in this process.
        runtime = task_runtime(settings)
        await runtime.__aenter__()
        app.state.task_runtime = runtime
        if settings.mail_catcher.enabled:
            catcher = MailCatcher(settings, clock)
            await asyncio.to_thread(catcher.start)
            app.state.mail_catcher = catcher
        from salescopilot.tracking.buffer import EventBuffer

        buffer = EventBuffer(batch=settings.tracking.buffer_batch, interval=settings.tracking.buffer_interval,
                             limit=settings.tracking.buffer_limit)
        buffer.start()
        app.state.tracking_buffer = buffer
        if server_process:
            freeze_startup_heap()

    async def on_shutdown(app: Litestar) -> None:
        # Tracking events still in memory are written before the database goes away.
        buffer = app.state.pop("tracking_buffer", None)
        if buffer is not None:
            await buffer.close()
        catcher = app.state.pop("mail_catcher", None)
        if catcher is not None:
            await asyncio.to_thread(catcher.stop)
        runtime = app.state.pop("task_runtime", None)
        if runtime is not None:
            await runtime.__aexit__(None, None, None)
        await services.ai_client.close()
        await stop_database()

    vendor = create_static_files_router(
        path="/static/core",
        directories=[CORE_STATIC],
        opt={"permission": "public", "tenantless": True},
        include_in_schema=False,
        name="core_static",
    )
    metrics = Router(
        path="/",
        route_handlers=[PrometheusController],
        opt={"permission": "public", "tenantless": True},
        include_in_schema=False,
    )
    api_docs = OpenAPIConfig(
        title="Sales Copilot API",
        version=__version__,
        path="/api/docs",
        render_plugins=[ScalarRenderPlugin()],
        openapi_router=Router(
            path="/api/docs", route_handlers=[], include_in_schema=False,
            opt={"permission": "public", "tenantless": True},
        ),
    )
    app = Litestar(
        route_handlers=[*core_route_handlers(), *plugin_routes, *catcher_routes, vendor, metrics],
        middleware=[PrometheusConfig(app_name="salescopilot", group_path=True).middleware, RequestPipeline],
        guards=[permission_guard],
        exception_handlers=EXCEPTION_HANDLERS,
        csrf_config=CSRFConfig(
            secret=settings.secret_key.get_secret_value(),
            cookie_name="sc_csrf",
            cookie_secure=settings.secure_cookies,
            cookie_samesite="lax",
            header_name="x-csrftoken",
            # The JSON API authenticates by API key, or by session plus X-CSRF-Token (checked in
            # the request pipeline), so the form-cookie check is for pages only.
            exclude=["/api/", "/healthz", "/readyz", "/metrics"],
        ),
        template_config=TemplateConfig(instance=TenantTemplateEngine(theming)),
        plugins=[HTMXPlugin()],
        openapi_config=api_docs,
        logging_config=None,
        request_max_body_size=settings.max_request_body,
        request_class=AppRequest,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        debug=False,
    )
    document_api_errors(app)
    # The open pixel and click redirect are answered ahead of the router and the middleware
    # stack (see tracking.fast_path); every other request goes through them as before.
    app.asgi_handler = TrackingFastPath(app.asgi_handler)
    app.state.settings = settings
    app.state.services = services
    app.state.theming = theming
    app.state.catalogue = catalogue
    app.state.tenant_resolver = TenantResolver()
    app.state.trusted_proxies = TrustedProxies.parse(settings.trusted_proxies)
    app.state.session_cookie_name = settings.sessions.cookie_name
    return app
