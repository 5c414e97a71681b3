"""Fixtures of the mail tests: a test CA, SMTP sinks, a Dovecot server, and SMTP accounts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from plugins.providers.mail_smtp.account import SmtpAccount, Transport
from plugins.providers.mail_smtp.provider import SmtpProvider
from salescopilot.plugin_system.interfaces import NoSettings
from tests.mailservers import Dovecot, SmtpSink, TestCertificates, make_certificates, running_dovecot

ADDRESS = "anna@example.com"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> TestCertificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture(scope="module")
def dovecot(certificates) -> Iterator[Dovecot]:
    """One Dovecot per test module (stopping one takes seconds); tests use `imap_user`. It speaks
    plain IMAP and STARTTLS on `port`, implicit TLS on `tls_port` (certificates of the test CA)."""
    server = running_dovecot(certificates)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def imap_user(dovecot) -> str:
    """A fresh, empty IMAP account (password PASSWORD) for this test."""
    user = f"user-{uuid.uuid4().hex[:12]}@example.com"
    dovecot.add_user(user, PASSWORD)
    return user


def account_for(sink: SmtpSink, **changes) -> SmtpAccount:
    values = dict(
        address=ADDRESS, smtp_host=sink.host, smtp_port=sink.port, smtp_security="none",
        auth_method="none",
    )
    values.update(changes)
    return SmtpAccount.model_validate(values)


def provider_for(account: SmtpAccount, *, timeout: float = 5.0, ca_file=None) -> SmtpProvider:  # noqa: ANN001
    transport = Transport(smtp_timeout=timeout, imap_timeout=timeout, extra_ca_file=ca_file)
    return SmtpProvider(NoSettings(), account, transport=transport)
