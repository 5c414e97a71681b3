"""A small HTTP/1.1 receiver on loopback for webhook tests: it records every request and answers
as scripted (ok, an error status, slowly, never, or with a redirect)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    #: Answers still to give, in order; when empty, `default`. "ok", "500", "slow:<s>", "hang",
    #: "redirect:<url>".
    script: list[str] = field(default_factory=list)
    default: str = "ok"
    received: list[Received] = field(default_factory=list)
    server: asyncio.AbstractServer | None = None

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> Receiver:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(method, path, headers, body))
            answer = self.script.pop(0) if self.script else self.default
            if answer == "hang":
                await asyncio.sleep(3600)
            if answer.startswith("slow:"):
                await asyncio.sleep(float(answer.split(":", 1)[1]))
                answer = "ok"
            if answer.startswith("redirect:"):
                status, extra = "302 Found", f"Location: {answer.split(':', 1)[1]}\r\n"
            elif answer == "ok":
                status, extra = "200 OK", ""
            else:
                status, extra = f"{answer} Error", ""
            writer.write(f"HTTP/1.1 {status}\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\nok".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
