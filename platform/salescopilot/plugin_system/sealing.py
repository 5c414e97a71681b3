"""Plugin settings in and out of storage: validation against a `settings_model`, and the split of
secret fields (`SecretStr`) into one encrypted token, so the readable JSON never holds a secret.

Reusable for any settings model that follows the plugin rules (e.g. a `MailProvider.account_model`).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from salescopilot.crypto import SecretBox
from salescopilot.plugin_system.errors import PluginSettingsInvalid


def _is_secret(annotation: Any) -> bool:
    """`SecretStr` or `SecretStr | None` (optionally Annotated)."""
    if annotation is SecretStr:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_secret(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(arguments) == 1 and _is_secret(arguments[0])
    return False


def _hides_secret(annotation: Any, seen: set[int]) -> bool:
    """Whether a SecretStr appears anywhere inside `annotation` (nested models, lists, dicts)."""
    if annotation is SecretStr:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if id(annotation) in seen:
            return False
        seen.add(id(annotation))
        return any(_hides_secret(f.annotation, seen) for f in annotation.model_fields.values())
    return any(_hides_secret(argument, seen) for argument in typing.get_args(annotation))


def secret_field_names(model: type[BaseModel]) -> tuple[str, ...]:
    """The top-level secret fields of `model`. Raises ValueError when a secret is nested deeper
    (inside a sub-model, list or dict), where it could not be kept out of the readable JSON."""
    names = []
    for name, info in model.model_fields.items():
        if _is_secret(info.annotation):
            names.append(name)
        elif _hides_secret(info.annotation, set()):
            raise ValueError(
                f"{model.__name__}.{name}: secrets must be top-level fields typed SecretStr "
                "or SecretStr | None"
            )
    return tuple(names)


def _problems(error: ValidationError) -> list[dict[str, str]]:
    # `include_input=False`: the rejected value may be a password and must not travel further.
    return [
        {"field": ".".join(str(part) for part in e["loc"]) or "(settings)", "problem": e["msg"]}
        for e in error.errors(include_input=False, include_url=False)
    ]


def _invalid(subject: str, problems: list[dict[str, str]]) -> PluginSettingsInvalid:
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return PluginSettingsInvalid(
        f"Invalid settings for {subject}: {summary}", details={"fields": problems}
    )


def validate_settings(
    model: type[BaseModel],
    data: Any,
    *,
    subject: str,
    kept_secrets: Mapping[str, str] | None = None,
) -> BaseModel:
    """`data` validated against `model`, or `PluginSettingsInvalid` listing every problem.

    Unknown fields are refused. A secret field left out of `data` keeps its value from
    `kept_secrets` (the stored one), so an admin can change other settings without re-entering
    passwords they cannot see.
    """
    if not isinstance(data, Mapping):
        raise _invalid(subject, [{"field": "(settings)", "problem": "must be a JSON object"}])
    problems = [
        {"field": str(key), "problem": "unknown field"}
        for key in data
        if not isinstance(key, str) or key not in model.model_fields
    ]
    secrets = secret_field_names(model)
    merged = {name: value for name, value in (kept_secrets or {}).items() if name in secrets}
    merged.update(data)
    try:
        instance = model.model_validate(merged)
    except ValidationError as error:
        problems += _problems(error)
    if problems:
        raise _invalid(subject, problems)
    return instance


def seal_settings(instance: BaseModel, box: SecretBox) -> tuple[dict[str, Any], str]:
    """(readable settings without secrets, encrypted token of the secrets or "" when none)."""
    secrets = secret_field_names(type(instance))
    public = instance.model_dump(mode="json", exclude=set(secrets))
    values = {
        name: getattr(instance, name).get_secret_value()
        for name in secrets
        if getattr(instance, name) is not None
    }
    return public, (box.encrypt(json.dumps(values)) if values else "")


def open_secrets(token: str, box: SecretBox) -> dict[str, str]:
    """The secret fields stored in `token` (a `seal_settings` token), decrypted."""
    return json.loads(box.decrypt(token)) if token else {}


def open_settings(
    model: type[BaseModel], public: Mapping[str, Any], token: str, box: SecretBox, *, subject: str
) -> BaseModel:
    """The model instance rebuilt from storage, secrets decrypted. Raises `PluginSettingsInvalid`
    when the stored settings no longer fit the model (e.g. after a plugin upgrade)."""
    try:
        return model.model_validate({**public, **open_secrets(token, box)})
    except ValidationError as error:
        raise _invalid(subject + " (stored settings; save them again)", _problems(error)) from None
