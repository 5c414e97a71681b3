"""A minimal SMTP sink for the sending benchmarks: aiosmtpd on a loopback port, counting what it
accepts and when (the same server for both sides of a comparison), on its own thread or in a
process of its own.

On a thread it shares the interpreter lock with the side being measured: the server's answers
wait for the lock whenever that side runs Python. A real mail server is never inside the
sender's process; `SmtpSink(own_process=True)` runs it in its own (counting only, no arrival
times).
"""

from __future__ import annotations

import multiprocessing
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


class _SharedCounter:
    """The sink's handler in its own process: counts into a shared integer (no arrival times)."""

    def __init__(self, accepted) -> None:  # noqa: ANN001 - a multiprocessing.Value
        self.accepted = accepted

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        with self.accepted.get_lock():
            self.accepted.value += 1
        return "250 2.0.0 Ok: queued"


def _serve(port: int, accepted, ready, stop) -> None:  # noqa: ANN001 - multiprocessing objects
    controller = Controller(_SharedCounter(accepted), hostname="127.0.0.1", port=port, data_size_limit=0,
                            ready_timeout=10)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class SmtpSink:
    def __init__(self, *, own_process: bool = False) -> None:
        self.port = free_port()
        self.counter = _Counter()
        self._process = None
        if own_process:
            context = multiprocessing.get_context("spawn")
            self._accepted = context.Value("q", 0)
            self._ready, self._stop = context.Event(), context.Event()
            self._process = context.Process(
                target=_serve, args=(self.port, self._accepted, self._ready, self._stop), daemon=True
            )
        else:
            self._controller = Controller(
                self.counter, hostname="127.0.0.1", port=self.port, data_size_limit=0, ready_timeout=10
            )

    def __enter__(self) -> SmtpSink:
        if self._process is not None:
            self._process.start()
            if not self._ready.wait(30):
                raise RuntimeError("the SMTP sink's process did not start")
        else:
            self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._stop.set()
            self._process.join(10)
        else:
            self._controller.stop()

    @property
    def accepted(self) -> int:
        if self._process is not None:
            with self._accepted.get_lock():
                return self._accepted.value
        with self.counter.lock:
            return self.counter.accepted
