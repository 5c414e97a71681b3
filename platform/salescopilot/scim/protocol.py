"""The SCIM 2.0 wire format (RFC 7643/7644) as Okta and Microsoft Entra ID speak it: errors,
list responses, the `eq` filters they send, and PATCH operations applied to a resource's JSON.
Pure functions: no database, no request."""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

from salescopilot.errors import DomainError

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
CONTENT_TYPE = "application/scim+json"
MAX_COUNT = 200
MAX_OPERATIONS = 1000


class ScimError(DomainError):
    """An error in SCIM's own shape; `scim_type` per RFC 7644 section 3.12."""

    code = "SCIM_ERROR"
    status_code = 400

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status_code = status  # type: ignore[misc]
        self.scim_type = scim_type

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status_code), "detail": self.message}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


def invalid(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


def list_response(resources: list[dict], total: int, start_index: int) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def paging(start_index: int | None, count: int | None) -> tuple[int, int, int]:
    """(startIndex, offset, limit) from 1-based `startIndex` and `count` (clamped, as the RFC
    says: below 1 means 1; a negative count means 0)."""
    start = max(1, start_index or 1)
    limit = min(MAX_COUNT, max(0, count if count is not None else 100))
    return start, start - 1, limit


# -- filters --------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r'^\s*(?P<attr>[A-Za-z][\w.:$-]*(?:\[[^\]]*\])?(?:\.[A-Za-z]\w*)?)\s+eq\s+'
    r'(?P<value>"(?:[^"\\]|\\.)*"|true|false|null)\s*$',
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Equals:
    attribute: str  # lower-cased, e.g. "username", "emails.value", "members.value"
    value: Any


def parse_filter(text: str | None) -> list[Equals]:
    """`attr eq "value"` clauses joined by `and` (all Okta and Entra ID send for lookups);
    anything else is refused with scimType invalidFilter."""
    if not text or not text.strip():
        return []
    if len(text) > 1000:
        raise invalid("The filter is too long.", "invalidFilter")
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if not match:
            raise invalid(f"Unsupported filter: {part[:100]!r} (only 'eq' joined by 'and').", "invalidFilter")
        clauses.append(Equals(_attribute_key(match["attr"]), _literal(match["value"])))
    return clauses


def _attribute_key(attribute: str) -> str:
    """emails[type eq "work"].value -> emails.value; a schema URN prefix is dropped."""
    attribute = re.sub(r"\[[^\]]*\]", "", attribute)
    if attribute.lower().startswith("urn:"):
        attribute = attribute.rpartition(":")[2]
    return attribute.lower()


def _literal(token: str) -> Any:
    lowered = token.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    return re.sub(r"\\(.)", r"\1", token[1:-1])


# -- PATCH ----------------------------------------------------------------------------------

_PATH = re.compile(
    r'^(?P<attr>[A-Za-z$][\w$-]*)(?:\[(?P<filter>[^\]]+)\])?(?:\.(?P<sub>[A-Za-z]\w*))?$'
)
_VALUE_FILTER = re.compile(r'^\s*(?P<attr>\w+)\s+eq\s+(?P<value>"(?:[^"\\]|\\.)*"|true|false)\s*$', re.IGNORECASE)


def patch_operations(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("Operations"), list):
        raise invalid("A PATCH body has an Operations list.", "invalidSyntax")
    operations = body["Operations"]
    if len(operations) > MAX_OPERATIONS:
        raise invalid("Too many operations.", "tooMany")
    for operation in operations:
        if not isinstance(operation, dict) or str(operation.get("op", "")).lower() not in ("add", "replace", "remove"):
            raise invalid("Each operation's op is add, replace or remove.", "invalidSyntax")
    return operations


def apply_patch(resource: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """`resource` (a SCIM JSON object) with the operations applied, as a new object. Paths
    are matched case-insensitively; `members` operations are left to `member_changes`."""
    result = copy.deepcopy(resource)
    for operation in operations:
        op = str(operation["op"]).lower()
        path = operation.get("path")
        value = operation.get("value")
        if path is None or path == "":
            if op == "remove":
                raise invalid("remove needs a path.", "noTarget")
            if not isinstance(value, dict):
                raise invalid("Without a path, value is an object of attributes.", "invalidValue")
            for key, item in value.items():
                if str(key).lower() == "members":
                    continue
                _set_path(result, str(key), item, op)
            continue
        if not isinstance(path, str) or len(path) > 500:
            raise invalid("The path is not valid.", "invalidPath")
        if path.lower().startswith("members"):
            continue
        if op == "remove":
            _remove_path(result, path)
        else:
            _set_path(result, path, value, op)
    return result


def member_changes(operations: list[dict[str, Any]]) -> list[tuple[str, list[str] | None]]:
    """The group-membership part of a PATCH, in order: ("add" | "remove" | "replace", ids);
    ids None means every member ("remove" of path `members` with no value)."""
    changes: list[tuple[str, list[str] | None]] = []
    for operation in operations:
        op = str(operation["op"]).lower()
        path = operation.get("path") or ""
        value = operation.get("value")
        if not path and isinstance(value, dict):
            members = next((v for k, v in value.items() if str(k).lower() == "members"), None)
            if members is not None:
                changes.append((op if op != "add" else "add", _member_ids(members)))
            continue
        if not isinstance(path, str) or not path.lower().startswith("members"):
            continue
        match = _PATH.match(path)
        if not match or match["attr"].lower() != "members":
            raise invalid("The members path is not valid.", "invalidPath")
        if match["filter"]:
            inner = _VALUE_FILTER.match(match["filter"])
            if not inner or inner["attr"].lower() != "value":
                raise invalid("Members are filtered by value only.", "invalidFilter")
            changes.append(("remove" if op == "remove" else op, [str(_literal(inner["value"]))]))
        elif op == "remove":
            changes.append(("remove", _member_ids(value) if value is not None else None))
        else:
            changes.append((op, _member_ids(value)))
    return changes


def _member_ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    ids = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("value"), str):
            ids.append(item["value"])
        elif isinstance(item, str):
            ids.append(item)
        else:
            raise invalid("Members are given as {\"value\": id}.", "invalidValue")
    return ids


def _find_key(container: dict, name: str) -> str:
    """The key of `container` matching `name` case-insensitively, else `name` itself."""
    lowered = name.lower()
    return next((k for k in container if k.lower() == lowered), name)


def _split_schema(path: str) -> tuple[str | None, str]:
    """`urn:...:User:manager` -> (the schema URN, "manager"); plain paths -> (None, path)."""
    if path.lower().startswith("urn:"):
        schema, _, attribute = path.rpartition(":")
        return schema, attribute
    return None, path


def _set_path(resource: dict, path: str, value: Any, op: str) -> None:
    schema, path = _split_schema(path)
    target = resource
    if schema:
        target = resource.setdefault(_find_key(resource, schema), {})
    match = _PATH.match(path)
    if not match:
        raise invalid(f"Unsupported path {path[:100]!r}.", "invalidPath")
    key = _find_key(target, match["attr"])
    if match["filter"]:
        # emails[type eq "work"].value: the list item matching the filter (made if missing).
        inner = _VALUE_FILTER.match(match["filter"])
        if not inner:
            raise invalid("Unsupported value filter.", "invalidFilter")
        items = target.setdefault(key, [])
        if not isinstance(items, list):
            raise invalid(f"{key} is not multi-valued.", "invalidPath")
        wanted = _literal(inner["value"])
        item = next((i for i in items if isinstance(i, dict) and i.get(inner["attr"]) == wanted), None)
        if item is None:
            item = {inner["attr"]: wanted}
            items.append(item)
        if match["sub"]:
            item[match["sub"]] = value
        elif isinstance(value, dict):
            item.update(value)
        return
    if match["sub"]:
        parent = target.setdefault(key, {})
        if not isinstance(parent, dict):
            raise invalid(f"{key} has no sub-attributes.", "invalidPath")
        parent[_find_key(parent, match["sub"])] = value
        return
    if op == "add" and isinstance(target.get(key), list) and isinstance(value, list):
        target[key] = [*target[key], *value]
    elif op == "add" and isinstance(target.get(key), dict) and isinstance(value, dict):
        target[key] = {**target[key], **value}
    else:
        target[key] = value


def _remove_path(resource: dict, path: str) -> None:
    schema, path = _split_schema(path)
    target = resource.get(_find_key(resource, schema), {}) if schema else resource
    match = _PATH.match(path)
    if not match:
        raise invalid(f"Unsupported path {path[:100]!r}.", "invalidPath")
    key = _find_key(target, match["attr"])
    if match["filter"]:
        inner = _VALUE_FILTER.match(match["filter"])
        if inner and isinstance(target.get(key), list):
            wanted = _literal(inner["value"])
            target[key] = [i for i in target[key] if not (isinstance(i, dict) and i.get(inner["attr"]) == wanted)]
        return
    if match["sub"] and isinstance(target.get(key), dict):
        target[key].pop(_find_key(target[key], match["sub"]), None)
    else:
        target.pop(key, None)


def timestamp(value: dt.datetime) -> str:
    """A meta timestamp: UTC, ISO 8601 with Z."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def meta(resource_type: str, created: dt.datetime, updated: dt.datetime, location: str) -> dict[str, str]:
    return {
        "resourceType": resource_type,
        "created": timestamp(created),
        "lastModified": timestamp(updated),
        "location": location,
    }


def parse_id(value: str) -> uuid.UUID | None:
    """A resource id from a path or body, None when it is not one of ours (a 404, not a 500)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def as_bool(value: Any) -> bool:
    """SCIM booleans; Entra ID sends "True"/"False" strings in PATCH values."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid("active is true or false.")
