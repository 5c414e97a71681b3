"""Errors of the AI copilot, each with a stable code (mapped to the API's error envelope)."""

from __future__ import annotations

from salescopilot.errors import DomainError, RateLimited, ValidationFailed


class AiNotConfigured(DomainError):
    code = "AI_NOT_CONFIGURED"
    status_code = 409
    default_message = (
        "No AI provider is configured for this workspace. An admin can add one under "
        "Settings → AI (/settings/ai); the offline checks work without it."
    )


class AiProviderError(DomainError):
    code = "AI_PROVIDER_ERROR"
    status_code = 502
    default_message = "The AI provider failed to answer. Try again in a moment."


class AiProviderRefused(DomainError):
    code = "AI_PROVIDER_REFUSED"
    status_code = 502
    default_message = "The AI provider refused the request: check the key, base URL and model."


class AiProviderRateLimited(DomainError):
    code = "AI_PROVIDER_RATE_LIMITED"
    status_code = 429
    default_message = "The AI provider is rate limiting this workspace. Try again shortly."


class AiTimeout(DomainError):
    code = "AI_TIMEOUT"
    status_code = 504
    default_message = "The AI provider took too long to answer."


class AiCircuitOpen(DomainError):
    code = "AI_UNAVAILABLE"
    status_code = 503
    default_message = "The AI provider is failing; AI actions are paused for a short while."


class AiStreamTruncated(DomainError):
    code = "AI_STREAM_TRUNCATED"
    status_code = 502
    default_message = "The AI provider's answer was cut off. Nothing was kept; try again."


class AiInvalidOutput(DomainError):
    code = "AI_INVALID_OUTPUT"
    status_code = 502
    default_message = "The model's answer did not have the expected form, twice. Nothing was kept."


class AiOutputRejected(DomainError):
    code = "AI_OUTPUT_REJECTED"
    status_code = 422
    default_message = (
        "The model's answer was refused by the safety checks (invented variables, links that "
        "were not given, or instructions taken from the data). Nothing was kept."
    )


class AiBudgetExceeded(DomainError):
    code = "AI_BUDGET_EXCEEDED"
    status_code = 402
    default_message = "This workspace has used its AI token budget for the month."


class AiRateLimited(RateLimited):
    code = "AI_RATE_LIMITED"
    default_message = "Too many AI requests for this workspace this minute. Try again shortly."


class InvalidAiSettings(ValidationFailed):
    code = "INVALID_AI_SETTINGS"
    default_message = "These AI settings are not valid."
