"""`CuttingProxy`: a loopback TCP proxy (in the test's event loop) that can drop a connection
after a set number of bytes from the server, to test a connection lost mid-command."""

from __future__ import annotations

import asyncio

from tests.mailservers.ports import LOOPBACK


class CuttingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.host = LOOPBACK
        self.port = 0
        #: Drop each new connection once the server has sent this many bytes (None: never).
        self.cut_after: int | None = None
        self.connections = 0
        self.active = 0
        #: The most connections open at the same time.
        self.max_active = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        budget = self.cut_after
        server_reader, server_writer = await asyncio.open_connection(*self.target)

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counted: bool) -> None:
            nonlocal budget
            try:
                while data := await reader.read(65536):
                    if counted and budget is not None:
                        if len(data) >= budget:
                            writer.write(data[:budget])
                            await writer.drain()
                            self.cuts += 1
                            raise ConnectionResetError("cut by the test proxy")
                        budget -= len(data)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for w in (client_writer, server_writer):
                    w.close()

        try:
            await asyncio.gather(pump(server_reader, client_writer, True), pump(client_reader, server_writer, False))
        finally:
            self.active -= 1
