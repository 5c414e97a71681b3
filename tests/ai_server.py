"""A local OpenAI-compatible HTTP server for tests and benchmarks: it speaks the documented
chat-completions wire format (`POST /v1/chat/completions`, JSON answers and `stream: true`
server-sent events with `data: [DONE]`), and fails on request: 429 with Retry-After, 500s,
answers slower than the client's timeout, streams cut off mid-way, invalid JSON.

Written on asyncio streams so each failure is exact (a chunked body closed without its last
chunk is a truncated stream to the client). Runs in the caller's event loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """One scripted answer. kind: "text" (a completion whose content is `content`), "stream"
    (`chunks` as deltas; `truncate` closes the connection after them without finishing),
    "status" (an HTTP error `status` with `headers`), "hang" (no answer for `delay` seconds)."""

    kind: str = "text"
    content: str = ""
    chunks: list[str] = field(default_factory=list)
    truncate: bool = False
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    prompt_tokens: int = 50
    completion_tokens: int = 20
    #: Held until this event is set (to keep calls in flight while a test looks at them).
    gate: asyncio.Event | None = None


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.body.get("messages", [])

    def text_of(self, role: str) -> str:
        return "\n".join(m["content"] for m in self.messages if m["role"] == role)


class FakeOpenAI:
    """`await server.start()`; `server.base_url` for the SDK; `server.script(Reply(...), ...)`
    queues answers; with none queued, `default(request)` answers (a plain echo by default)."""

    def __init__(self, default: Callable[[Received], Reply] | None = None) -> None:
        self.queue: deque[Reply] = deque()
        self.received: list[Received] = []
        self.default = default or (lambda request: Reply(content='{"ok": true}'))
        self._server: asyncio.base_events.Server | None = None
        #: Open connections and the tasks serving them, closed and awaited by `stop`.
        self._connections: dict[asyncio.Task, asyncio.StreamWriter] = {}
        self._ids = itertools.count(1)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    async def start(self) -> FakeOpenAI:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Connections the client keeps alive are closed with the server, and their tasks
            # end on their own (left waiting, the loop's shutdown would cancel them, which
            # Python 3.11's stream server reports as an error).
            for writer in self._connections.values():
                writer.close()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                request = Received(path, headers, json.loads(body) if body else {})
                self.received.append(request)
                keep_open = await self._answer(request, writer)
                if not keep_open:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()

    async def _answer(self, request: Received, writer: asyncio.StreamWriter) -> bool:
        if request.path.rstrip("/") != "/v1/chat/completions":
            await _send(writer, 404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return True
        reply = self.queue.popleft() if self.queue else self.default(request)
        model = request.body.get("model", "test-model")
        if reply.kind == "hang":
            await asyncio.sleep(reply.delay)
            return False
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.gate is not None:
            await reply.gate.wait()
        if reply.kind == "status":
            await _send(writer, reply.status, {"error": {"message": f"scripted {reply.status}",
                                                         "type": "server_error", "code": None}}, reply.headers)
            return True
        number = next(self._ids)
        if reply.kind == "stream" or (request.body.get("stream") and reply.kind == "text"):
            chunks = reply.chunks or [reply.content[i:i + 12] for i in range(0, len(reply.content), 12)]
            return await self._stream(writer, number, model, chunks, reply)
        await _send(writer, 200, {
            "id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                      "total_tokens": reply.prompt_tokens + reply.completion_tokens},
        })
        return True

    async def _stream(self, writer: asyncio.StreamWriter, number: int, model: str, chunks: list[str],
                      reply: Reply) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n")

        def event(payload: Any) -> None:
            data = b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload).encode()) + b"\n\n"
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        base = {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model}
        event({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        for chunk in chunks:
            event({**base, "choices": [{"index": 0, "delta": {"content": chunk}, "finish_reason": None}]})
            await writer.drain()
            await asyncio.sleep(0)
        if reply.truncate:
            await writer.drain()
            writer.transport.abort()
            return False
        event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        event({**base, "choices": [], "usage": {"prompt_tokens": reply.prompt_tokens,
                                                "completion_tokens": reply.completion_tokens,
                                                "total_tokens": reply.prompt_tokens + reply.completion_tokens}})
        event(b"[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


async def _send(writer: asyncio.StreamWriter, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
    body = json.dumps(payload).encode()
    reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
              503: "Service Unavailable", 400: "Bad Request", 401: "Unauthorized"}.get(status, "Error")
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                 f"content-length: {len(body)}\r\n{extra}\r\n".encode() + body)
    await writer.drain()
