"""Every tenant route of the app as a probe: its path filled with another tenant's real ids (or
with ids that exist nowhere, as a control) and a plausible body, so the isolation suite covers a
new route the moment it is registered.

Path parameters are matched to tenant-owned tables by name: `member_id` -> `membership`,
`key_id` -> `api_key`, `entry_id` -> `audit_entry` (the table named like the stem, ending in
`_<stem>` or starting with it). Request bodies are built from the handler's `data` type.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from salescopilot.db.schema import tenant_owned_tables
from salescopilot.web.guards import is_generated_options_handler
from tests.tenancy.isolation_seed import SeededTenant

_PARAM = re.compile(r"\{(\w+):(\w+)\}")
#: Path parameters that name something other than a tenant-owned row, and what to fill in.
SPECIAL_PARAMS = {
    "tenant_id": lambda seeded: [str(seeded.ref.id)],
    "token": lambda seeded: [seeded.invite_token],
}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class RouteProbe:
    method: str
    path: str
    handler: HTTPRouteHandler
    #: name -> type name ("uuid", "str", "path", "int", ...).
    params: dict[str, str]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def permission(self) -> str | None:
        return self.handler.opt.get("permission")

    def fill(self, values: dict[str, str]) -> str:
        return _PARAM.sub(lambda m: values[m.group(1)], self.path)


def tenant_routes(app: Litestar) -> list[RouteProbe]:
    """Every (method, path) served inside a tenant: all routes but the tenantless ones
    (health, metrics, docs, core static files) and Litestar's generated OPTIONS answers."""
    probes = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.opt.get("tenantless") or is_generated_options_handler(handler):
                continue
            params = {m.group(1): m.group(2) for m in _PARAM.finditer(route.path)}
            for method in sorted(handler.http_methods):
                probes.append(RouteProbe(method, route.path, handler, params))
    return sorted(probes, key=lambda p: (p.path, p.method))


def tables_for(stem: str) -> list[str]:
    """Tenant-owned tables a parameter or path segment named `stem` refers to: the table whose
    name ends in the stem's words (`key` -> `api_key`, `api-keys` -> `api_key`), or is the stem
    plus "ship" (`member` -> `membership`)."""
    words = stem.lower().replace("-", "_").split("_")
    found = []
    singulars = (words[-1].removesuffix("s"), words[-1].removesuffix("es"))  # keys, mailboxes
    for table in tenant_owned_tables():
        name = table._meta.tablename
        for candidate in (words, *([*words[:-1], singular] for singular in singulars)):
            if (
                name.split("_")[-len(candidate) :] == candidate
                or name == "_".join(candidate) + "ship"
            ):
                found.append(name)
                break
    return found


def unmapped_params(probe: RouteProbe) -> list[str]:
    """Id-like path parameters the probe cannot fill with another tenant's real rows."""
    return [
        name
        for name, kind in probe.params.items()
        if kind == "uuid"
        and name not in SPECIAL_PARAMS
        and not tables_for(name.removesuffix("_id"))
    ]


def owned_params(probe: RouteProbe) -> list[str]:
    """Path parameters that name a tenant-owned row (for which the answer must be 404)."""
    return [
        name
        for name, kind in probe.params.items()
        if kind == "uuid" and name not in SPECIAL_PARAMS and tables_for(name.removesuffix("_id"))
    ]


def real_values(probe: RouteProbe, owner: SeededTenant) -> list[dict[str, str]]:
    """Fillings of the path with `owner`'s real ids: one per combination (up to two rows each)."""
    choices: list[list[str]] = []
    for name, kind in probe.params.items():
        if name in SPECIAL_PARAMS:
            found = SPECIAL_PARAMS[name](owner)
        elif kind == "uuid":
            found = [str(i) for t in tables_for(name.removesuffix("_id")) for i in owner.ids[t][:2]]
        else:
            found = []
        choices.append(found or [_random(kind)])
    return [dict(zip(probe.params, combo, strict=True)) for combo in itertools.product(*choices)]


def control_values(probe: RouteProbe) -> dict[str, str]:
    """A filling with values that exist in no tenant."""
    return {name: _random(kind) for name, kind in probe.params.items()}


def _random(kind: str) -> str:
    if kind == "uuid":
        return str(uuid.uuid4())
    if kind == "int":
        return str(secrets.randbelow(10**9) + 10**9)
    if kind == "path":
        return f"probe-{secrets.token_hex(4)}.css"
    return secrets.token_urlsafe(32)


def resource_ids(probe: RouteProbe, owner: SeededTenant) -> list[str]:
    """`owner`'s ids of the resource a route is about (`/api/v1/members/bulk` -> memberships)."""
    segments = [s for s in probe.path.split("/") if s and not s.startswith("{")]
    for segment in reversed(segments):
        tables = tables_for(segment) or [
            # A resource named after its domain (`/outbox` -> `outbox_message`).
            t._meta.tablename for t in tenant_owned_tables()
            if t._meta.tablename.startswith(segment.replace("-", "_") + "_")
        ]
        if tables:
            return [str(i) for t in tables for i in owner.ids[t][:2]]
    return []


def json_body(probe: RouteProbe, owner: SeededTenant) -> Any | None:
    """A valid-looking JSON body for the handler's `data` type, naming `owner`'s ids where the
    body holds ids; None when the handler takes no body."""
    parameter = probe.handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return None
    schema = _json_schema(parameter.annotation)
    return _example(schema, schema.get("$defs", {}), "", probe, owner)


def _json_schema(annotation: Any) -> dict:
    try:
        schema = msgspec.json.schema(annotation)
    except TypeError:
        from pydantic import TypeAdapter

        schema = TypeAdapter(annotation).json_schema(ref_template="#/$defs/{model}")
    return schema


def _example(schema: dict, defs: dict, name: str, probe: RouteProbe, owner: SeededTenant) -> Any:
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, name, probe, owner)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _example(options[0], defs, name, probe, owner)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        wanted = set(schema.get("required", ())) | {
            k for k, v in properties.items() if _holds_ids(v, defs)
        }
        return {k: _example(v, defs, k, probe, owner) for k, v in properties.items() if k in wanted}
    if kind == "array":
        item = _example(schema.get("items", {}), defs, name, probe, owner)
        if schema.get("items", {}).get("format") == "uuid":
            return resource_ids(probe, owner) or [item]
        return [item]
    if kind == "string":
        return _string(schema, name, probe, owner)
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return max(float(schema.get("minimum", 1)), 1.0)
    if kind == "boolean":
        return False
    return None


def _holds_ids(schema: dict, defs: dict) -> bool:
    items = schema.get("items", {})
    return schema.get("format") == "uuid" or items.get("format") == "uuid"


def _string(schema: dict, name: str, probe: RouteProbe, owner: SeededTenant) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        stem = re.sub(r"(_id|Id)$", "", name)
        tables = tables_for(stem) if stem != name else []
        ids = [str(i) for t in tables for i in owner.ids[t][:1]] or resource_ids(probe, owner)
        return ids[0] if ids else str(uuid.uuid4())
    if fmt == "date-time":
        return (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    if fmt == "email" or "email" in name.lower():
        # Deliverable-looking: email-validator refuses special-use domains such as `.test`.
        return "probe@probe.example.com"
    text = "probe"
    return (text * 20)[
        : max(schema.get("minLength", 1), min(len(text), schema.get("maxLength", 64)))
    ]


def form_body(acting: SeededTenant) -> dict[str, str]:
    """What a page form might carry; the credentials are the acting tenant's own owner's."""
    return {
        "email": acting.owner_email,
        "password": acting.password,
        "name": "Probe",
        "role": "viewer",
        "code": "000000",
        "next": "/",
    }
