"""A minimal SMTP sink for the sending benchmarks: aiosmtpd on a loopback port, on its own thread,
counting what it accepts and when (the same server for both sides of a comparison)."""

from __future__ import annotations

import socket
import threading
import time

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted = 0
        #: Message-ID -> time.time() of acceptance (for latency figures).
        self.arrivals: dict[str, float] = {}

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        now = time.time()
        message_id = ""
        for line in envelope.original_content.split(b"\r\n", 60):
            if line[:11].lower() == b"message-id:":
                message_id = line[11:].strip().decode(errors="replace")
                break
        with self.lock:
            self.accepted += 1
            if message_id:
                self.arrivals[message_id] = now
        return "250 2.0.0 Ok: queued"


class SmtpSink:
    def __init__(self) -> None:
        self.port = free_port()
        self.counter = _Counter()
        self._controller = Controller(
            self.counter, hostname="127.0.0.1", port=self.port, data_size_limit=0, ready_timeout=10
        )

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def accepted(self) -> int:
        with self.counter.lock:
            return self.counter.accepted
