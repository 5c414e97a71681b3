"""The dashboard shell and the theme's static files (tenant overrides first)."""

from __future__ import annotations

import mimetypes

from litestar import Controller, Request, Response, get
from litestar.response import File, Template

from salescopilot.errors import NotFound
from salescopilot.tenancy.context import current_tenant
from salescopilot.web.guards import principal_of
from salescopilot.web.theming import current_brand


class ShellPages(Controller):
    include_in_schema = False

    @get("/", opt={"permission": "dashboard.view"})
    async def dashboard(self, request: Request) -> Template:
        return Template("dashboard.html", context={"principal": principal_of(request)})

    @get("/static/theme/{path:path}", opt={"permission": "public"}, cache=False)
    async def theme_static(self, request: Request, path: str) -> Response:
        theming = request.app.state.theming
        brand = current_brand() or theming.default_brand()
        found = theming.static_file(current_tenant().slug, brand.theme, path.lstrip("/"))
        if found is None:
            raise NotFound()
        media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        return File(path=found, media_type=media_type, content_disposition_type="inline",
                    headers={"Cache-Control": "public, max-age=300"})
