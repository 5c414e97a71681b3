"""Liveness and readiness probes (no tenant, no auth)."""

from __future__ import annotations

from litestar import Controller, Request, Response, get

from salescopilot.db.engine import get_engine


class HealthController(Controller):
    opt = {"permission": "public", "tenantless": True}
    include_in_schema = False

    @get("/healthz", sync_to_thread=False)
    def healthz(self) -> dict:
        """The process is up."""
        return {"status": "ok"}

    @get("/readyz")
    async def readyz(self, request: Request) -> Response:
        """The database (and Redis, when configured) answer."""
        checks: dict[str, str] = {}
        try:
            await get_engine()._run_in_new_connection("SELECT 1")
            checks["database"] = "ok"
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            checks["database"] = f"error: {type(error).__name__}"
        redis_url = request.app.state.settings.redis.url
        if redis_url:
            import redis.asyncio as redis

            client = redis.Redis.from_url(redis_url, socket_timeout=2)
            try:
                await client.ping()
                checks["redis"] = "ok"
            except Exception as error:  # noqa: BLE001
                checks["redis"] = f"error: {type(error).__name__}"
            finally:
                await client.aclose()
        ready = all(v == "ok" for v in checks.values())
        return Response({"status": "ok" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503)
