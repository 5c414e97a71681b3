"""Pages of sending mailboxes: the list (status, caps, today's use, health, quarantine), the
connect/edit form built from the provider's account model, the connection test (htmx), the
warmup curve as a server-drawn SVG chart, and the health panel."""

from __future__ import annotations

import datetime as dt
import types
import typing
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter
from litestar.response import Redirect, Template
from pydantic import BaseModel, SecretStr

from salescopilot.errors import DomainError
from salescopilot.listing import ListQuery
from salescopilot.mailboxes.controllers import domain_service, mailbox_service, queue_test_message
from salescopilot.mailboxes.limits import DAY_NAMES
from salescopilot.mailboxes.schemas import MailboxInput
from salescopilot.mailboxes.service import STATUS_OF_ACTION, mailbox_view, parse_mailbox_input
from salescopilot.outbox.service import mailbox_loads
from salescopilot.web.guards import principal_of

#: Optional whole numbers of the form: empty means "no cap of my own".
OPTIONAL_INTS = ("daily_cap", "hourly_cap", "minute_cap", "domain_daily_cap")
#: Numbers with a default: empty means the default.
DEFAULTED_NUMBERS = ("min_gap_seconds", "jitter_seconds", "bounce_threshold", "complaint_threshold",
                     "error_threshold", "health_window_days")
TEXTS = ("email", "from_name", "provider", "profile", "signature_text")


# --- the provider's account form ----------------------------------------------------------------


@dataclass
class AccountField:
    """One input of a provider's account settings, derived from its `account_model`."""

    name: str
    label: str
    kind: Literal["text", "number", "password", "select", "checkbox"]
    required: bool
    value: Any = ""
    options: tuple[str, ...] = ()
    #: A secret with a stored value (the input stays empty; leaving it empty keeps it).
    stored: bool = False
    error: str = ""


def _unwrap(annotation: Any) -> Any:
    """`X` of `X | None` (and of `Annotated[X, ...]`)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(options[0]) if len(options) == 1 else str
    return annotation


def account_fields(
    model: type[BaseModel], values: dict[str, Any], errors: dict[str, str], stored: set[str]
) -> list[AccountField]:
    fields = []
    for name, info in model.model_fields.items():
        annotation = _unwrap(info.annotation)
        options: tuple[str, ...] = ()
        if annotation is SecretStr:
            kind = "password"
        elif typing.get_origin(annotation) is Literal:
            kind, options = "select", tuple(str(o) for o in typing.get_args(annotation))
        elif annotation is bool:
            kind = "checkbox"
        elif annotation in (int, float):
            kind = "number"
        else:
            kind = "text"
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        value = "" if kind == "password" else values.get(name, default)
        fields.append(AccountField(
            name=name, label=(info.title or name.replace("_", " ")).capitalize(), kind=kind,
            required=info.is_required() and kind != "password", value="" if value is None else value,
            options=options, stored=kind == "password" and name in stored,
            error=errors.get(f"account.{name}", ""),
        ))
    return fields


def form_to_data(form: FormMultiDict, model: type[BaseModel]) -> dict[str, Any]:
    """The submitted form as a `MailboxInput`-shaped dict. Empty secret inputs are left out, so
    the stored secrets are kept; other empty inputs mean "the default"."""

    def text(name: str, limit: int = 20000) -> str:
        return str(form.get(name, "") or "")[:limit].strip()

    data: dict[str, Any] = {name: text(name) for name in TEXTS if text(name)}
    for name in OPTIONAL_INTS:
        data[name] = text(name, 20) or None
    for name in DEFAULTED_NUMBERS:
        if text(name, 20):
            data[name] = text(name, 20)
    if form.get("window_enabled"):
        data["window"] = {
            "days": [d for d in form.getall("window_days", []) if str(d).isdigit()][:7],
            **{k: text(f"window_{k}", 64) for k in ("start", "end", "timezone", "holidays") if text(f"window_{k}", 64)},
        }
    data["warmup"] = {"enabled": bool(form.get("warmup_enabled"))}
    for name in ("started_on", "start_per_day", "daily_increase", "target"):
        if text(f"warmup_{name}", 20):
            data["warmup"][name] = text(f"warmup_{name}", 20)
    account: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = _unwrap(info.annotation)
        if annotation is bool:
            account[name] = bool(form.get(f"account.{name}"))
            continue
        value = str(form.get(f"account.{name}", "") or "")[:5000]
        if annotation is not SecretStr:
            value = value.strip()
        if value:
            account[name] = value
    data["account"] = account
    return data


def problems_by_field(error: DomainError) -> tuple[dict[str, str], list[str]]:
    """(field -> problem, every problem as a line) of a refused mailbox."""
    details = error.details if isinstance(error.details, dict) else {}
    found = details.get("fields") or []
    by_field: dict[str, str] = {}
    lines = []
    account_error = error.code == "PLUGIN_SETTINGS_INVALID"
    for item in found if isinstance(found, list) else []:
        name = str(item.get("field", ""))
        key = f"account.{name}" if account_error else name
        by_field.setdefault(key, str(item.get("problem", "")))
        lines.append(f"{key.replace('_', ' ')}: {item.get('problem', '')}")
    return by_field, lines or [error.message]


# --- the warmup chart ---------------------------------------------------------------------------


@dataclass
class Chart:
    width: int
    height: int
    points: str
    #: (y, label) of the horizontal grid lines.
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    #: (x, label) under the axis.
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    today_x: float | None = None
    left: int = 48
    bottom: float = 0.0
    right: float = 0.0


def warmup_chart(curve: list[tuple[dt.date, int]], today: dt.date) -> Chart | None:
    """The ramp as a line chart in SVG coordinates (drawn by the template, scaled by CSS)."""
    if not curve:
        return None
    width, height, left, right, top, bottom = 640, 240, 48, 16, 12, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    top_cap = max(cap for _, cap in curve) or 1
    step = plot_w / max(1, len(curve) - 1)

    def y(cap: float) -> float:
        return round(top + plot_h * (1 - cap / top_cap), 1)

    points = " ".join(f"{round(left + i * step, 1)},{y(cap)}" for i, (_, cap) in enumerate(curve))
    marks = sorted({0, len(curve) // 2, len(curve) - 1})
    first = curve[0][0]
    today_x = None
    if first <= today <= curve[-1][0]:
        today_x = round(left + (today - first).days * step, 1)
    return Chart(
        width=width, height=height, points=points,
        y_ticks=[(y(v), str(v)) for v in sorted({0, top_cap // 2, top_cap})],
        x_ticks=[(round(left + i * step, 1), f"{curve[i][0]:%b %d}") for i in marks],
        today_x=today_x, left=left, bottom=height - bottom, right=width - right,
    )


# --- pages ---------------------------------------------------------------------------------------


def _catalogue(request: Request):
    from salescopilot.plugin_system.registry import PluginKind, get_catalogue

    # The process-wide catalogue: the one the service resolves a mailbox's provider from.
    return get_catalogue().entries(PluginKind.MAIL_PROVIDER.value)


class MailboxPages(Controller):
    path = "/mailboxes"
    include_in_schema = False

    @get("/", opt={"permission": "mailboxes.view"})
    async def page(self, request: Request) -> Template:
        return await self._list(request)

    @post("/domains", opt={"permission": "mailboxes.manage"})
    async def add_domain(self, request: Request) -> Response:
        form = await request.form()
        try:
            await domain_service(request).add(str(form.get("domain", ""))[:300], str(form.get("selector", "") or "sc1")[:63])
        except DomainError as error:
            return await self._list(request, error=error.message, status_code=error.status_code)
        return Redirect(path="/mailboxes#domains-heading")

    @post("/domains/{domain_id:uuid}/enable", opt={"permission": "mailboxes.manage"})
    async def enable_domain(self, request: Request, domain_id: uuid.UUID) -> Response:
        await domain_service(request).set_enabled(domain_id, True)
        return Redirect(path="/mailboxes#domains-heading")

    @post("/domains/{domain_id:uuid}/disable", opt={"permission": "mailboxes.manage"})
    async def disable_domain(self, request: Request, domain_id: uuid.UUID) -> Response:
        await domain_service(request).set_enabled(domain_id, False)
        return Redirect(path="/mailboxes#domains-heading")

    @get("/new", opt={"permission": "mailboxes.manage"})
    async def new(
        self, request: Request,
        provider: typing.Annotated[str | None, Parameter(query="provider", required=False, max_length=63)] = None,
    ) -> Template:
        return self._form(request, None, {"provider": provider} if provider else {}, set())

    @post("/", opt={"permission": "mailboxes.manage"})
    async def create(self, request: Request) -> Response:
        form = await request.form()
        return await self._save(request, None, form)

    @get("/{mailbox_id:uuid}", opt={"permission": "mailboxes.view"})
    async def detail(self, request: Request, mailbox_id: uuid.UUID) -> Template:
        return await self._detail(request, mailbox_id)

    @get("/{mailbox_id:uuid}/edit", opt={"permission": "mailboxes.manage"})
    async def edit(
        self, request: Request, mailbox_id: uuid.UUID,
        provider: typing.Annotated[str | None, Parameter(query="provider", required=False, max_length=63)] = None,
    ) -> Template:
        service = mailbox_service(request)
        row = await service.get(mailbox_id)
        values = service.input_of(row)
        stored = service.stored_secret_names(row)
        if provider and provider != row.provider:
            values, stored = {**values, "provider": provider, "account": {}}, set()
        return self._form(request, row, values, stored)

    @post("/{mailbox_id:uuid}", opt={"permission": "mailboxes.manage"})
    async def update(self, request: Request, mailbox_id: uuid.UUID) -> Response:
        form = await request.form()
        return await self._save(request, mailbox_id, form)

    @post("/{mailbox_id:uuid}/check", opt={"permission": "mailboxes.manage"})
    async def check(self, request: Request, mailbox_id: uuid.UUID) -> Template:
        service = mailbox_service(request)
        try:
            check = await service.check_connection(mailbox_id)
            result = {"ok": check.ok, "message": check.message, "problems": list(check.problems)}
        except DomainError as error:
            if error.status_code == 404:
                raise
            result = {"ok": False, "message": error.message, "problems": []}
        if request.headers.get("hx-request"):
            return Template("mailboxes/check.html", context={"check": result})
        return await self._detail(request, mailbox_id, check=result)

    @post("/{mailbox_id:uuid}/test-message", opt={"permission": "mailboxes.manage"})
    async def test_message(self, request: Request, mailbox_id: uuid.UUID) -> Response:
        form = await request.form()
        try:
            await queue_test_message(request, mailbox_id, str(form.get("to", "")).strip())
        except DomainError as error:
            if error.status_code == 404:
                raise
            return await self._detail(request, mailbox_id, test_error=error.message)
        return Redirect(path=f"/outbox?mailbox={mailbox_id}")

    @post("/{mailbox_id:uuid}/pause", opt={"permission": "mailboxes.manage"})
    async def pause(self, request: Request, mailbox_id: uuid.UUID) -> Response:
        return await self._set_status(request, mailbox_id, "pause")

    @post("/{mailbox_id:uuid}/resume", opt={"permission": "mailboxes.manage"})
    async def resume(self, request: Request, mailbox_id: uuid.UUID) -> Response:
        return await self._set_status(request, mailbox_id, "resume")

    @post("/{mailbox_id:uuid}/disable", opt={"permission": "mailboxes.manage"})
    async def disable(self, request: Request, mailbox_id: uuid.UUID) -> Response:
        return await self._set_status(request, mailbox_id, "disable")

    # -- helpers ----------------------------------------------------------------------------------

    async def _list(self, request: Request, *, error: str | None = None, status_code: int = 200) -> Template:
        service = mailbox_service(request)
        rows = (await service.list(ListQuery(limit=200, sort="email"))).items
        loads = await mailbox_loads(rows, request.app.state.services.clock.now())
        mailboxes = [
            {"view": mailbox_view(row), "load": loads[row.id], "health": await service.health(row)}
            for row in rows
        ]
        domains = domain_service(request)
        return Template("mailboxes/list.html", context={
            "mailboxes": mailboxes,
            "domains": [(row, domains.dns_record(row)) for row in await domains.all()],
            "error": error,
            "principal": principal_of(request),
        }, status_code=status_code)

    async def _set_status(self, request: Request, mailbox_id: uuid.UUID, action: str) -> Response:
        """Then back to where the button was (the list, or the mailbox's own page)."""
        await mailbox_service(request).set_status(mailbox_id, STATUS_OF_ACTION[action])
        form = await request.form()
        return Redirect(path=f"/mailboxes/{mailbox_id}" if form.get("back") == "detail" else "/mailboxes")

    async def _detail(
        self, request: Request, mailbox_id: uuid.UUID, check: dict | None = None, test_error: str | None = None
    ) -> Template:
        service = mailbox_service(request)
        row = await service.get(mailbox_id)
        today = request.app.state.services.clock.now().date()
        curve = service.warmup_curve(row, 45)
        return Template("mailboxes/detail.html", context={
            "mailbox": mailbox_view(row),
            "load": (await mailbox_loads([row], request.app.state.services.clock.now()))[row.id],
            "health": await service.health(row),
            "curve": curve,
            "chart": warmup_chart(curve, today),
            "today": today,
            "day_names": DAY_NAMES,
            "check": check,
            "test_error": test_error,
            "principal": principal_of(request),
        }, status_code=400 if test_error else 200)

    def _form(self, request: Request, row, values: dict[str, Any], stored: set[str], *,
              errors: dict[str, str] | None = None, problems: list[str] | None = None,
              status_code: int = 200) -> Template:
        providers = _catalogue(request)
        slugs = [entry.slug for entry in providers]
        provider = values.get("provider") or (row.provider if row else None) or ("smtp" if "smtp" in slugs else (slugs[0] if slugs else ""))
        entry = next((e for e in providers if e.slug == provider), None)
        errors = errors or {}
        model = getattr(entry.plugin_class, "account_model", None) if entry else None
        fields = account_fields(model, values.get("account") or {}, errors, stored) if model else []
        if entry is None and provider:
            problems = [*(problems or []), f"No mail provider {provider!r} is installed."]
        defaults = MailboxInput.model_fields
        return Template("mailboxes/form.html", context={
            "mailbox": mailbox_view(row) if row else None,
            "values": values,
            "defaults": {name: info.default for name, info in defaults.items() if not info.is_required()},
            "providers": providers,
            "provider": provider,
            "account_fields": fields,
            "errors": errors,
            "problems": problems or [],
            "day_names": DAY_NAMES,
            "principal": principal_of(request),
        }, status_code=status_code)

    async def _save(self, request: Request, mailbox_id: uuid.UUID | None, form: FormMultiDict) -> Response:
        service = mailbox_service(request)
        row = await service.get(mailbox_id) if mailbox_id else None
        provider = str(form.get("provider", "") or "")[:63]
        entry = next((e for e in _catalogue(request) if e.slug == provider), None)
        model = getattr(entry.plugin_class, "account_model", None) if entry else None
        # An unknown provider still parses the rest, so the answer names the provider.
        data = form_to_data(form, model or BaseModel)
        try:
            parsed = parse_mailbox_input(data)
            saved = await (service.update(row.id, parsed) if row else service.create(parsed))
        except DomainError as error:
            errors, problems = problems_by_field(error)
            stored = service.stored_secret_names(row) if row and row.provider == provider else set()
            shown = {**data, "account": {k: v for k, v in (data.get("account") or {}).items()}}
            return self._form(request, row, shown, stored, errors=errors, problems=problems,
                              status_code=error.status_code)
        return Redirect(path=f"/mailboxes/{saved.id}")
