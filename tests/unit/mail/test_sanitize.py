"""The allow-list cleaning of editor HTML and the text alternative derived from it."""

from __future__ import annotations

import pytest

from salescopilot.mail.sanitize import clean_email_html, text_from_html


@pytest.mark.parametrize("hostile", [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<style>body{display:none}</style>",
    "<iframe src='https://evil.example'></iframe>",
    "<object data='x.swf'></object><embed src='x.swf'>",
    "<svg onload=alert(1)><script>alert(1)</script></svg>",
    "<form action='https://evil.example'><input name=p><button>Go</button></form>",
    "<math><mtext><script>alert(1)</script></mtext></math>",
    "<noscript><img src=x onerror=alert(1)></noscript>",
    "<!-- <script>alert(1)</script> -->",
    "<base href='https://evil.example/'><meta http-equiv=refresh content='0;url=https://evil.example'>",
])
def test_scripts_and_active_content_are_removed_with_their_content(hostile):
    cleaned = clean_email_html(f"<p>Hello</p>{hostile}<p>Bye</p>")
    assert cleaned.startswith("<p>Hello</p>") and cleaned.endswith("<p>Bye</p>")
    lowered = cleaned.lower()
    for trace in ("<script", "alert", "<iframe", "<object", "<embed", "<form", "<input", "<svg", "<style",
                  "<base", "<meta", "evil.example"):
        assert trace not in lowered, cleaned


@pytest.mark.parametrize("handler", ["onclick", "onerror", "onload", "onmouseover", "OnFocus", "formaction"])
def test_event_handlers_and_unknown_attributes_are_removed(handler):
    cleaned = clean_email_html(f'<p {handler}="steal()">Hi</p><img src="https://cdn.example/a.png" {handler}="steal()">'
                               f'<a href="https://example.com" {handler}="steal()">x</a>')
    assert "steal" not in cleaned and handler.lower() not in cleaned.lower()
    assert '<img src="https://cdn.example/a.png">' in cleaned and '<a href="https://example.com">x</a>' in cleaned


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "&#106;avascript:alert(1)", "vbscript:msgbox(1)", "data:text/html;base64,PHNjcmlwdD4=",
])
def test_dangerous_urls_are_removed(url):
    cleaned = clean_email_html(f'<a href="{url}">click</a><img src="{url}" alt="x">')
    assert "script" not in cleaned.lower() and "data:" not in cleaned
    assert ">click</a>" in cleaned


def test_safe_markup_styles_and_template_tags_are_kept():
    source = ('<h2>News</h2><p style="color: #333; position: fixed; background-image: url(x)">Hi {{firstName|there}},</p>'
              '<ul><li><strong>One</strong></li><li><em>Two</em></li></ul>'
              '<p><a href="{{website}}">your site</a> · <a href="mailto:a@b.example">mail</a></p>'
              '<p>{{#if company}}at {{company}}{{else}}at your company{{/if}}</p>')
    cleaned = clean_email_html(source)
    assert '<p style="color:#333">Hi {{firstName|there}},</p>' in cleaned
    assert "<ul><li><strong>One</strong></li><li><em>Two</em></li></ul>" in cleaned
    assert '<a href="{{website}}">your site</a>' in cleaned and 'href="mailto:a@b.example"' in cleaned
    assert "{{#if company}}at {{company}}{{else}}at your company{{/if}}" in cleaned
    assert "position" not in cleaned and "url(" not in cleaned


def test_editor_html_without_visible_content_is_empty():
    for empty in ("", "<div><br></div>", "<p>  </p>", "<script>x</script>", "<div><!-- x --></div>"):
        assert clean_email_html(empty) == "", empty
    assert clean_email_html('<img src="https://cdn.example/a.png" alt="">') != ""


def test_the_text_alternative_keeps_paragraphs_lists_and_link_targets():
    html = ('<div>Hi Ana,<br><br>See <a href="https://example.com/guide">the guide</a> or '
            '<a href="https://example.com">https://example.com</a>.</div>'
            '<ul><li>One</li><li>Two &amp; three</li></ul><ol><li>First</li><li>Second</li></ol>'
            '<blockquote>Quoted</blockquote><p>Bye &lt;3</p>')
    assert text_from_html(html) == (
        "Hi Ana,\n\nSee the guide (https://example.com/guide) or https://example.com.\n\n"
        "- One\n- Two & three\n\n1. First\n2. Second\n\nQuoted\n\nBye <3\n"
    )
    assert text_from_html("") == ""
