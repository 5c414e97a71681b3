"""The ASGI entry point for servers: `uvicorn salescopilot.web.asgi:app`."""

from salescopilot.web.app import create_app

app = create_app(server_process=True)
