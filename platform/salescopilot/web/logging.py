"""Structured logs: one JSON object per line (or a readable console line), with the request id,
tenant and task bound through contextvars. Secrets never reach a log line: settings are logged
masked, and processors drop any key that looks like a secret."""

from __future__ import annotations

import logging
import sys

import structlog

from salescopilot.settings import Settings

_SECRET_MARKERS = ("password", "secret", "token", "api_key", "authorization", "cookie")


def _drop_secrets(logger, method_name, event_dict):
    for key in list(event_dict):
        if any(marker in key.lower() for marker in _SECRET_MARKERS):
            event_dict[key] = "**********"
    return event_dict


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    renderer = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
