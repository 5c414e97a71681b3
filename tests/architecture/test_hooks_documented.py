"""Every hook is documented twice: a one-line docstring in hookspecs.py saying what it returns and
how results combine, and a section with an example in plugins/README.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from salescopilot.plugin_system import hookspecs
from salescopilot.plugin_system.markers import PROJECT_NAME

README = Path(__file__).resolve().parents[2] / "plugins" / "README.md"
COMBINE_RULES = ("concatenated", "merged", "first non-None wins", "results are collected")


def hookspec_functions() -> dict[str, object]:
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, f"{PROJECT_NAME}_spec")
    }


def readme_sections() -> dict[str, str]:
    """`### \\`hook_name\\`` heading -> the text up to the next heading."""
    text = README.read_text()
    parts = re.split(r"^### `([a-z_]+)`\s*$", text, flags=re.MULTILINE)
    return {
        parts[i]: re.split(r"^#{2,3} ", parts[i + 1], flags=re.MULTILINE)[0]
        for i in range(1, len(parts), 2)
    }


def test_there_are_hookspecs_to_check():
    assert len(hookspec_functions()) >= 12


def test_every_hookspec_has_a_one_line_docstring_saying_how_results_combine():
    problems = []
    for name, function in hookspec_functions().items():
        doc = inspect.getdoc(function) or ""
        if not doc:
            problems.append(f"{name}: no docstring")
        elif "\n" in doc:
            problems.append(f"{name}: docstring is more than one line")
        elif "return" not in doc.lower():
            problems.append(f"{name}: docstring does not say what the hook returns")
        elif not any(rule in doc for rule in COMBINE_RULES):
            problems.append(f"{name}: docstring does not say how results combine {COMBINE_RULES}")
    assert not problems, "\n".join(problems)


def test_every_hook_is_in_the_plugin_guide_with_an_example():
    sections = readme_sections()
    problems = []
    for name in hookspec_functions():
        if name not in sections:
            problems.append(f"{name}: no '### `{name}`' section in plugins/README.md")
        elif not re.search(rf"```python\n(?:.*\n)*?@hookimpl[^\n]*\ndef {name}\(", sections[name]):
            problems.append(
                f"{name}: its README section has no ```python example with "
                f"'@hookimpl' and 'def {name}('"
            )
    assert not problems, "\n".join(problems)


def test_the_guide_documents_no_hook_that_does_not_exist():
    documented = {name for name in readme_sections() if name.startswith(("register_", "on_"))}
    assert documented <= set(hookspec_functions())
