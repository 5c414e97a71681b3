"""The test mail servers themselves: what other suites (outbox, chaos, inbound) build on."""

from __future__ import annotations

import subprocess
import sys

from tests.integration.mail.conftest import PASSWORD
from tests.mailservers import SmtpSink

SEND_FROM_ANOTHER_PROCESS = """
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as smtp:
    for n in range(3):
        smtp.sendmail("worker@example.com", ["lead@example.org"], f"Subject: {n}\\r\\n\\r\\nbody".encode())
"""


def test_the_sink_serves_other_processes_and_records_exact_bytes(sink):
    subprocess.run([sys.executable, "-c", SEND_FROM_ANOTHER_PROCESS, str(sink.port)], check=True,
                   timeout=60)
    transactions = sink.wait_for(3)
    assert [t.data for t in transactions] == [f"Subject: {n}\r\n\r\nbody\r\n".encode() for n in range(3)]
    assert sink.connections == 1 and transactions[0].mail_from == "worker@example.com"


def test_a_sink_keeping_a_sent_copy_files_it_like_gmail(dovecot, imap_user):
    import smtplib

    with SmtpSink(sent_copy=(dovecot, imap_user)) as sink, smtplib.SMTP(sink.host, sink.port) as smtp:
        smtp.sendmail(imap_user, ["lead@example.org"], b"Message-ID: <c1@example.com>\r\n\r\nhi\r\n")
    [copy] = dovecot.messages(imap_user, "Sent")
    assert copy.endswith(b"Message-ID: <c1@example.com>\r\n\r\nhi\r\n")
    assert dovecot.messages(imap_user) == []


def test_dovecot_users_folders_and_messages(dovecot, imap_user):
    import imaplib

    dovecot.append(imap_user, "INBOX", b"Subject: one\r\n\r\n1\r\n")
    with imaplib.IMAP4(dovecot.host, dovecot.port) as imap:
        imap.login(imap_user, PASSWORD)
        assert imap.select("INBOX") == ("OK", [b"1"])
        status, folders = imap.list()
        assert any(b"\\Sent" in f and f.endswith(b"Sent") for f in folders)
    assert dovecot.messages(imap_user, "INBOX") == [b"Subject: one\r\n\r\n1\r\n"]
