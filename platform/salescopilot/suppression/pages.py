"""The suppression list page: search, add an address or domain, paste many, remove."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from salescopilot.errors import DomainError
from salescopilot.suppression.service import entry_json
from salescopilot.web.deps import suppression_service
from salescopilot.web.guards import principal_of

PAGE_SIZE = 50
MAX_PASTED = 10_000


class SuppressionPages(Controller):
    path = "/suppressions"
    include_in_schema = False

    @get("/", opt={"permission": "suppressions.read"})
    async def page(
        self, request: Request,
        q: str = Parameter(query="q", default="", max_length=320),
        page: int = Parameter(query="page", ge=1, le=100_000, default=1),
    ) -> Template:
        return await self._render(request, q=q, page=page)

    async def _render(self, request: Request, *, q: str = "", page: int = 1, error: str | None = None,
                      status_code: int = 200) -> Template:
        rows, total = await suppression_service(request).search(q, page=page, limit=PAGE_SIZE)
        return Template("suppressions.html", status_code=status_code, context={
            "entries": [entry_json(row) for row in rows], "total": total, "q": q, "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)), "error": error, "principal": principal_of(request),
            "notice": request.query_params.get("notice"),
        })

    @post("/", opt={"permission": "suppressions.write"})
    async def add(self, request: Request) -> Response:
        form = await request.form()
        try:
            await suppression_service(request).add(str(form.get("value", ""))[:320],
                                                   reason=str(form.get("reason", "manual")), source="web")
        except DomainError as error:
            return await self._render(request, error=error.message, status_code=error.status_code)
        return Redirect(path="/suppressions?" + urlencode({"notice": "Added to the suppression list."}))

    @post("/import", opt={"permission": "suppressions.write"})
    async def paste(self, request: Request) -> Response:
        form = await request.form()
        values = [v.strip().split(",")[0] for v in str(form.get("values", "")).splitlines() if v.strip()]
        if len(values) > MAX_PASTED:
            return await self._render(request, error=f"Paste at most {MAX_PASTED:,} lines at a time.", status_code=400)
        result = await suppression_service(request).add_many(values, reason="import", source="web-import")
        notice = f"{result.added} added, {result.already} already suppressed"
        if result.invalid:
            notice += f", {len(result.invalid)} not valid (first: {result.invalid[0][:80]})"
        return Redirect(path="/suppressions?" + urlencode({"notice": notice + "."}))

    @post("/{suppression_id:uuid}/remove", opt={"permission": "suppressions.remove"})
    async def remove(self, request: Request, suppression_id: uuid.UUID) -> Response:
        await suppression_service(request).remove(suppression_id)
        return Redirect(path="/suppressions?" + urlencode({"notice": "Removed from the suppression list."}))
