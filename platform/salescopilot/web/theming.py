"""White-label rendering: per-tenant template overlay and design tokens.

A page template is looked up in order: `tenants/<slug>/theme/templates/` (the tenant's overrides),
the tenant's theme plugin's templates, then the core's `web/templates/`. Each (tenant, theme) pair
gets its own Jinja environment, built once and cached. Tokens are the theme's defaults with the
tenant's overrides (from its manifest) on top, validated so they cannot break out of CSS or HTML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import structlog
from litestar.contrib.jinja import JinjaTemplateEngine
from pydantic import ValidationError

from salescopilot.plugin_system.interfaces import DesignTokens, Theme

log = structlog.get_logger("salescopilot.web")

CORE_TEMPLATES = Path(__file__).parent / "templates"
CORE_STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True, slots=True)
class Brand:
    """What a page needs to look like its tenant's product."""

    tenant_slug: str | None
    tenant_name: str
    theme: str
    tokens: DesignTokens


_current_brand: ContextVar[Brand | None] = ContextVar("salescopilot_brand", default=None)


def set_current_brand(brand: Brand | None) -> None:
    _current_brand.set(brand)


def current_brand() -> Brand | None:
    return _current_brand.get()


class Theming:
    def __init__(self, themes: Mapping[str, type[Theme]], tenants_dir: Path) -> None:
        if "default" not in themes:
            raise RuntimeError("no theme with slug 'default' is installed")
        self.themes = dict(themes)
        self.tenants_dir = tenants_dir
        self._environments: dict[tuple[str | None, str], jinja2.Environment] = {}
        self._brands: dict[tuple[str | None, str, str, str], Brand] = {}
        self.globals: dict[str, Any] = {}

    def theme(self, slug: str) -> type[Theme]:
        return self.themes.get(slug) or self.themes["default"]

    def brand(self, tenant_slug: str | None, tenant_name: str, theme: str, overrides: Mapping[str, Any]) -> Brand:
        """The tenant's brand, made once per (tenant, name, theme, overrides): every request asks
        for it, and validating the tokens costs more than the rest of a tracking hit."""
        key = (tenant_slug, tenant_name, theme, json.dumps(overrides or {}, sort_keys=True, default=str))
        brand = self._brands.get(key)
        if brand is None:
            if len(self._brands) >= 10_000:
                self._brands.clear()
            brand = self._brands[key] = self._make_brand(tenant_slug, tenant_name, theme, overrides)
        return brand

    def _make_brand(self, tenant_slug: str | None, tenant_name: str, theme: str, overrides: Mapping[str, Any]) -> Brand:
        base = self.theme(theme).tokens()
        try:
            tokens = base.with_overrides(overrides or {})
        except ValidationError as error:
            # Manifests are validated on apply; a bad value stored by other means must not break
            # every page, so fall back to the theme's tokens and say so.
            log.warning("tenant_tokens_invalid", tenant=tenant_slug, errors=error.errors())
            tokens = base
        return Brand(tenant_slug=tenant_slug, tenant_name=tenant_name, theme=theme, tokens=tokens)

    def default_brand(self) -> Brand:
        return Brand(None, "", "default", self.themes["default"].tokens())

    def tenant_theme_dir(self, tenant_slug: str) -> Path:
        return self.tenants_dir / tenant_slug / "theme"

    def environment(self, tenant_slug: str | None, theme: str) -> jinja2.Environment:
        key = (tenant_slug, theme)
        environment = self._environments.get(key)
        if environment is None:
            paths = []
            if tenant_slug:
                paths.append(self.tenant_theme_dir(tenant_slug) / "templates")
            paths += [self.theme(theme).templates_dir, CORE_TEMPLATES]
            environment = jinja2.Environment(
                loader=jinja2.FileSystemLoader([str(p) for p in paths]),
                autoescape=jinja2.select_autoescape(default=True),
                auto_reload=False,
                undefined=jinja2.StrictUndefined,
            )
            # One shared dict: callables Litestar registers later reach every tenant's environment.
            environment.globals = self.globals
            self._environments[key] = environment
        return environment

    def static_file(self, tenant_slug: str | None, theme: str, relative: str) -> Path | None:
        """The file for `/static/theme/<relative>`: the tenant's override first, then the theme's."""
        folders = []
        if tenant_slug:
            folders.append(self.tenant_theme_dir(tenant_slug) / "static")
        folders.append(self.theme(theme).static_dir)
        for folder in folders:
            candidate = (folder / relative).resolve()
            if candidate.is_relative_to(folder.resolve()) and candidate.is_file():
                return candidate
        return None


class BrandedTemplate:
    def __init__(self, template: jinja2.Template, brand: Brand) -> None:
        self.template = template
        self.brand = brand

    def render(self, *args: Any, **context: Any) -> str:
        return self.template.render(*args, brand=self.brand, tokens=self.brand.tokens, **context)


class TenantTemplateEngine(JinjaTemplateEngine):
    """Litestar's Jinja engine, but each lookup goes through the current tenant's overlay."""

    def __init__(self, theming: Theming) -> None:
        theming.globals = jinja2.Environment().globals
        super().__init__(engine_instance=theming.environment(None, "default"))
        self.theming = theming

    def get_template(self, template_name: str) -> BrandedTemplate:  # type: ignore[override]
        brand = _current_brand.get() or self.theming.default_brand()
        environment = self.theming.environment(brand.tenant_slug, brand.theme)
        try:
            return BrandedTemplate(environment.get_template(template_name), brand)
        except jinja2.TemplateNotFound as exc:
            from litestar.exceptions import TemplateNotFoundException

            raise TemplateNotFoundException(template_name=template_name) from exc

