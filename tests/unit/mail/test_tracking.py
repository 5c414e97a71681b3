"""Tracking links: the rewrite touches only trackable hrefs; tokens are short, URL-safe, and every
forged, altered or garbled token is refused."""

from __future__ import annotations

import base64
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salescopilot.mail.tracking import (
    TrackingToken,
    TrackingTokens,
    insert_open_pixel,
    rewrite_links,
)

SECRET = b"s" * 32


def tracked(index: int, url: str) -> str:
    return f"https://t.example/c/{index}?to={url}"


def test_only_http_links_are_rewritten_and_everything_else_is_byte_identical():
    html = (
        "<!DOCTYPE html>\n<html><head><style>a{color:red}</style></head>\n<body>\n"
        "<p>One <A HREF=\"https://example.com/a?x=1&amp;y=2\" class='btn'>a</A>\n"
        "<a data-href=\"https://ignored\" href='http://example.com/b'>b</a>\n"
        "<a href=https://example.com/c>c</a>\n"
        '<a href="mailto:anna@example.com">mail</a> <a href="tel:+4930123">call</a>\n'
        '<a href="#top">top</a> <a href="https://example.com/d" data-no-track>d</a>\n'
        '<a href="https://t.example/unsubscribe/TOKEN">unsubscribe</a>\n'
        '<a name="anchor">no href</a> <!-- <a href="https://in.comment"> -->\n'
        "<script>var s = '<a href=\"https://in.script\">';</script>\n"
        "</p>\n</body></html>"
    )
    seen = []

    def click(index: int, url: str) -> str:
        seen.append((index, url))
        return tracked(index, url)

    out = rewrite_links(html, click, keep=["https://t.example/unsubscribe/TOKEN"])
    assert seen == [
        (0, "https://example.com/a?x=1&y=2"),
        (1, "http://example.com/b"),
        (2, "https://example.com/c"),
    ]
    expected = (
        html.replace(
            "https://example.com/a?x=1&amp;y=2",
            "https://t.example/c/0?to=https://example.com/a?x=1&amp;y=2",
        )
        .replace("'http://example.com/b'", "'https://t.example/c/1?to=http://example.com/b'")
        .replace("href=https://example.com/c>", "href=https://t.example/c/2?to=https://example.com/c>")
    )
    assert out == expected


def test_html_without_links_is_returned_unchanged():
    html = "<p>Plain <b>text</b> &amp; entities &eacute; 日本</p>"
    assert rewrite_links(html, tracked) == html


def test_open_pixel_goes_before_the_body_end_or_at_the_end():
    assert insert_open_pixel("<html><body><p>x</p></body></html>", "https://t/o/1?a=1&b=2") == (
        '<html><body><p>x</p><img src="https://t/o/1?a=1&amp;b=2" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px"></body></html>'
    )
    assert insert_open_pixel("<p>x</p>", "https://t/o/1").startswith('<p>x</p><img src="https://t/o/1"')


def test_tokens_round_trip_and_are_short_and_url_safe():
    tokens = TrackingTokens(SECRET)
    key = uuid.uuid4()
    for kind in ("open", "click", "unsubscribe"):
        token = tokens.make(kind, key, 7)
        assert re.fullmatch(r"[A-Za-z0-9_-]{42}", token)
        assert tokens.read(token) == TrackingToken(kind, key, 7)
    assert tokens.read(tokens.make("click", key)) == TrackingToken("click", key, 0)


def test_forged_altered_and_garbled_tokens_are_refused():
    tokens = TrackingTokens(SECRET)
    key = uuid.uuid4()
    token = tokens.make("click", key, 3)
    assert TrackingTokens(b"x" * 32).read(token) is None  # another secret
    raw = bytearray(base64.urlsafe_b64decode(token + "=="))
    for position in range(len(raw)):
        altered = bytearray(raw)
        altered[position] ^= 0x01
        text = base64.urlsafe_b64encode(bytes(altered)).rstrip(b"=").decode()
        assert tokens.read(text) is None, position
    for garbage in ("", "abc", token[:-1], token + "A", "!" * 42, "é" * 42, token.upper()):
        assert tokens.read(garbage) is None
    assert tokens.read(None) is None  # type: ignore[arg-type]


@given(st.text(max_size=80))
def test_any_string_is_refused_without_an_exception(text):
    assert TrackingTokens(SECRET).read(text) is None


def test_bad_arguments_are_refused():
    tokens = TrackingTokens(SECRET)
    with pytest.raises(ValueError):
        tokens.make("view", uuid.uuid4())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        tokens.make("click", uuid.uuid4(), 70000)
    with pytest.raises(ValueError):
        TrackingTokens(b"short")


def test_the_secret_comes_from_the_app_secret(settings):
    from salescopilot.crypto import derive_key

    key = uuid.uuid4()
    token = TrackingTokens.from_settings(settings).make("open", key)
    expected = TrackingTokens(derive_key(settings.secret_key.get_secret_value(), "tracking"))
    assert expected.read(token) == TrackingToken("open", key, 0)
