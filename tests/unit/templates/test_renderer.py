"""The email-template language: values, fallbacks, custom fields, conditions, escaping, and
problems reported instead of holes or raw braces."""

from __future__ import annotations

import pytest

from salescopilot.templates.library import LIBRARY, text_to_html
from salescopilot.templates.renderer import (
    TemplateRenderFailed,
    TemplateSyntaxInvalid,
    check_syntax,
    render_template,
    variables_in,
)

LEAD = {"firstName": "Ana", "lastName": "", "company": "Smith & Sons <Ltd>", "title": "",
        "custom": {"industry": "Logistics"}, "sender": {"firstName": "Sam"}}


def render(source: str, values=LEAD, part: str = "text"):
    parts = {"subject": "", "html": "", "text": ""}
    parts[part] = source
    rendered = render_template(parts["subject"], parts["html"], parts["text"], values)
    return getattr(rendered, part), rendered.problems


def test_values_any_case_or_spelling_and_custom_fields():
    assert render("Hi {{firstName}} {{ FIRST_NAME }} {{first_name}}")[0] == "Hi Ana Ana Ana"
    assert render("{{custom.industry}} / {{custom.INDUSTRY}}")[0] == "Logistics / Logistics"
    assert render("{{custom.industry}}", {"custom.industry": "Flat"})[0] == "Flat"


def test_fallbacks_fill_empty_and_missing_values():
    assert render("Hi {{lastName|there}}, {{custom.size|your size}}") == ("Hi there, your size", [])
    assert render("Hi {{firstName|there}}")[0] == "Hi Ana"


def test_conditions_with_else_and_nesting():
    source = "{{#if company}}at {{company}}{{#if title}} as {{title}}{{/if}}{{else}}nowhere{{/if}}"
    assert render(source)[0] == "at Smith & Sons <Ltd>"
    assert render(source, {**LEAD, "company": " "})[0] == "nowhere"


def test_html_values_and_fallbacks_are_escaped_text_and_subject_are_not():
    assert render("<b>{{company}}</b>", part="html")[0] == "<b>Smith &amp; Sons &lt;Ltd&gt;</b>"
    assert render("{{lastName|<i>you</i>}}", part="html")[0] == "&lt;i&gt;you&lt;/i&gt;"
    assert render("{{company}}")[0] == "Smith & Sons <Ltd>"
    assert render("Re: {{x}}", {"x": "a\r\nBcc: evil@example.com"}, part="subject")[0] == "Re: a Bcc: evil@example.com"


def test_unknown_and_empty_variables_are_problems_and_never_sent_raw():
    output, problems = render("Hi {{fristName}}, {{lastName}}!")
    assert output == "Hi , !" and "{{" not in output
    assert [(p.kind, p.variable) for p in problems] == [("unknown_variable", "fristName"), ("empty_variable", "lastName")]
    with pytest.raises(TemplateRenderFailed) as raised:
        render_template("{{nope}}", "", "", LEAD, strict=True)
    assert raised.value.details["problems"][0]["variable"] == "nope"


@pytest.mark.parametrize("source", [
    "{{ 7*7 }}", "{{#if company}}open", "{{/if}}", "{{else}}", "{{firstName", "stray }} here",
    "{{__class__.__mro__}}x{{#each leads}}{{/each}}", "{{#if a b}}{{/if}}",
])
def test_bad_tags_are_syntax_problems_not_output(source):
    output, problems = render(source)
    assert any(p.kind == "syntax" for p in problems), problems
    assert "{{" not in output and "}}" not in output
    with pytest.raises(TemplateSyntaxInvalid):
        check_syntax(text=source)


def test_no_attribute_access_or_code_runs():
    class Sneaky:
        def __str__(self):
            return "str"

    assert render("{{obj.__class__}}", {"obj": Sneaky()})[0] == ""
    assert variables_in("{{a}} {{#if b}}{{c|d}}{{/if}}") == {"a", "b", "c"}


def test_the_library_has_20_templates_that_render_cleanly():
    assert len(LIBRARY) == 20
    for template in LIBRARY:
        rendered = render_template(template.subject, template.html, template.text, LEAD)
        assert rendered.ok, (template.slug, rendered.problems)
        assert 20 <= len(rendered.text.split()) <= 130, template.slug
        assert len(template.subject) <= 60
        lowered = (template.subject + template.text).lower()
        for phrase in ("free", "guarantee", "act now", "limited time", "click here", "!!!", "$$$", "100%"):
            assert phrase not in lowered, (template.slug, phrase)
        empty = render_template(template.subject, template.html, template.text,
                                {"firstName": "", "company": "", "title": "", "sender": {"firstName": "Sam"}})
        assert empty.ok, (template.slug, empty.problems)


def test_text_to_html_escapes_text_and_keeps_tags():
    assert text_to_html("A & B\nline {{firstName|x}}\n\nNext") == "<p>A &amp; B<br>\nline {{firstName|x}}</p>\n<p>Next</p>"
