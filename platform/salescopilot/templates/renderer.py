"""The email-template language and its renderer. Templates are tenant input, so this is a small
interpreter of its own (no Jinja, no expressions, no attribute access, nothing executes):

    {{firstName}}                  a value: any lead field (camelCase or snake_case, any case)
    {{custom.industry}}            a custom field of the lead
    {{firstName|there}}            a fallback used when the value is empty or missing
    {{#if company}}at {{company}}{{else}}at your company{{/if}}
                                   a block shown when the value is not empty (`else` optional,
                                   blocks nest)

A variable the values do not know, or an empty one without a fallback, a tag that is not one
of the above, an unclosed block or stray braces are *problems*: `render_template` returns them
with the output (where the offending tag renders as nothing, never as raw braces), and
`strict=True` raises instead, so a campaign never sends an email with a hole in it.
In HTML bodies every value (and fallback) is HTML-escaped; in subjects line breaks become spaces.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from salescopilot.errors import ValidationFailed

_TAG = re.compile(r"\{\{([^{}]*)\}\}")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
_VARIABLE = re.compile(rf"^\s*({_NAME})\s*(?:\|(.*))?$", re.DOTALL)
_IF = re.compile(rf"^\s*#if\s+({_NAME})\s*$")
_ELSE = re.compile(r"^\s*else\s*$")
_END_IF = re.compile(r"^\s*/if\s*$")
PARTS = ("subject", "html", "text")


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    part: str
    #: unknown_variable, empty_variable or syntax.
    kind: str
    variable: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"part": self.part, "kind": self.kind, "variable": self.variable, "message": self.message}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    html: str
    text: str
    problems: list[TemplateProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class TemplateRenderFailed(ValidationFailed):
    code = "TEMPLATE_RENDER_PROBLEMS"
    status_code = 422
    default_message = "The template cannot be rendered for this lead without gaps."


class TemplateSyntaxInvalid(ValidationFailed):
    code = "TEMPLATE_SYNTAX"
    default_message = "The template has tags that are not valid."


@dataclass
class _Text:
    text: str


@dataclass
class _Var:
    name: str
    fallback: str | None


@dataclass
class _If:
    name: str
    then: list = field(default_factory=list)
    otherwise: list = field(default_factory=list)


@dataclass
class _Bad:
    source: str
    message: str


def parse(source: str) -> tuple[list, list[tuple[str, str]]]:
    """The template as nodes, and its syntax problems as (tag, message)."""
    root: list = []
    stack: list[tuple[_If, list]] = []
    current = root
    errors: list[tuple[str, str]] = []
    position = 0
    for match in _TAG.finditer(source):
        _text(current, source[position : match.start()], errors)
        position = match.end()
        body = match.group(1)
        if condition := _IF.match(body):
            block = _If(condition.group(1))
            current.append(block)
            stack.append((block, current))
            current = block.then
        elif _ELSE.match(body):
            if not stack or current is stack[-1][0].otherwise:
                errors.append((match.group(0), "{{else}} outside an {{#if}} block."))
            else:
                current = stack[-1][0].otherwise
        elif _END_IF.match(body):
            if not stack:
                errors.append((match.group(0), "{{/if}} without an {{#if}}."))
            else:
                current = stack.pop()[1]
        elif variable := _VARIABLE.match(body):
            fallback = variable.group(2)
            current.append(_Var(variable.group(1), fallback.strip() if fallback is not None else None))
        else:
            errors.append((match.group(0)[:80], "Not a variable or a block tag."))
    _text(current, source[position:], errors)
    for block, _ in stack:
        errors.append((f"{{{{#if {block.name}}}}}", "{{#if}} block without {{/if}}."))
    return root, errors


def _text(nodes: list, text: str, errors: list[tuple[str, str]]) -> None:
    if not text:
        return
    if "{{" in text or "}}" in text:
        errors.append((text.strip()[:80], "Unmatched {{ or }}."))
        text = text.replace("{{", "").replace("}}", "")
    nodes.append(_Text(text))


_MISSING = object()


def _key(name: str) -> str:
    return name.lower().replace("_", "")


def lookup(values: Mapping[str, Any], name: str) -> Any:
    """The value for a variable: exact key, dotted key, or a path through nested mappings,
    matching names without regard to case or underscores. `_MISSING` when the first part of
    the name is unknown; "" when only a nested part (a custom field) is absent."""
    if name in values:
        return values[name]
    parts = name.split(".")
    current: Any = values
    for depth, part in enumerate(parts):
        if not isinstance(current, Mapping):
            return _MISSING if depth == 0 else ""
        wanted = _key(part)
        found = next((v for k, v in current.items() if isinstance(k, str) and _key(k) == wanted), _MISSING)
        if found is _MISSING:
            flat = ".".join(parts[depth:])
            if flat in current:
                return current[flat]
            return _MISSING if depth == 0 else ""
        current = found
    return current


def _as_text(value: Any) -> str:
    if type(value) is str:  # nearly every value: no ABC checks for it
        return value.strip()
    if value is None or isinstance(value, Mapping):
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value).strip()


def _render(nodes: list, values: Mapping[str, Any], part: str, problems: list[TemplateProblem]) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Var):
            value = lookup(values, node.name)
            text = "" if value is _MISSING else _as_text(value)
            if not text:
                if node.fallback is not None:
                    text = node.fallback
                elif value is _MISSING:
                    problems.append(TemplateProblem(part, "unknown_variable", node.name,
                                                    f"{{{{{node.name}}}}} is not a known variable."))
                else:
                    problems.append(TemplateProblem(part, "empty_variable", node.name,
                                                    f"{{{{{node.name}}}}} is empty and has no fallback."))
            if part == "html":
                text = html.escape(text)
            elif part == "subject":
                text = " ".join(text.split())
            out.append(text)
        elif isinstance(node, _If):
            value = lookup(values, node.name)
            if value is _MISSING:
                problems.append(TemplateProblem(part, "unknown_variable", node.name,
                                                f"{{{{#if {node.name}}}}} tests an unknown variable."))
            chosen = node.then if value is not _MISSING and _as_text(value) else node.otherwise
            out.append(_render(chosen, values, part, problems))
    return "".join(out)


@functools.lru_cache(maxsize=512)
def _parsed(source: str) -> tuple[list, list[tuple[str, str]]]:
    """`parse`, once per source text: a campaign renders the same step for a thousand leads
    (the nodes are only read)."""
    return parse(source)


def render_part(source: str, values: Mapping[str, Any], part: str) -> tuple[str, list[TemplateProblem]]:
    nodes, errors = _parsed(source or "")
    problems = [TemplateProblem(part, "syntax", tag, message) for tag, message in errors]
    output = _render(nodes, values, part, problems)
    return output, problems


def render_template(
    subject: str, html: str, text: str, values: Mapping[str, Any], *, strict: bool = False
) -> Rendered:
    """Subject, HTML body and text body rendered with `values` (what `lead_values` gives, plus
    anything the caller adds: sender name, ...), with every problem found. `strict=True`
    raises `TemplateRenderFailed` (details: the problems) instead of returning any."""
    problems: list[TemplateProblem] = []
    outputs = []
    for part, source in zip(PARTS, (subject, html, text), strict=True):
        output, found = render_part(source, values, part)
        outputs.append(output)
        problems += found
    if strict and problems:
        raise TemplateRenderFailed(details={"problems": [p.to_dict() for p in problems]})
    return Rendered(outputs[0].strip(), outputs[1], outputs[2], problems)


def check_syntax(**parts: str) -> None:
    """Raise `TemplateSyntaxInvalid` naming every tag that is not valid in the given parts."""
    found = [
        {"part": part, "tag": tag, "message": message}
        for part, source in parts.items()
        for tag, message in parse(source or "")[1]
    ]
    if found:
        raise TemplateSyntaxInvalid(details={"problems": found})


def variables_in(source: str) -> set[str]:
    """Every variable a template uses (in values and conditions)."""
    names: set[str] = set()

    def walk(nodes: list) -> None:
        for node in nodes:
            if isinstance(node, _Var):
                names.add(node.name)
            elif isinstance(node, _If):
                names.add(node.name)
                walk(node.then)
                walk(node.otherwise)

    walk(parse(source or "")[0])
    return names
