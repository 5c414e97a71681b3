"""Real mail servers for the tests: `SmtpSink` (aiosmtpd in a thread, with selectable failure
behaviours) and `Dovecot` (DESIGN.md section 8), plus a test-time certificate authority.

Both listen on a free loopback port. The sink runs in its own thread with its own event loop, so
it serves the test's loop, other threads and other processes alike (the chaos test's workers).
"""

from tests.mailservers.certificates import TestCertificates, make_certificates
from tests.mailservers.dovecot import Dovecot, DovecotUnavailable, running_dovecot
from tests.mailservers.ports import LOOPBACK, free_port
from tests.mailservers.smtp_sink import Behaviour, SmtpSink, Transaction

__all__ = [
    "LOOPBACK", "Behaviour", "Dovecot", "DovecotUnavailable", "SmtpSink", "TestCertificates",
    "Transaction", "free_port", "make_certificates", "running_dovecot",
]
