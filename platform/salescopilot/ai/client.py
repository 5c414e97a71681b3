"""Calls to the model through the official `openai` SDK (`AsyncOpenAI`), for any
OpenAI-compatible server: timeouts, retries with backoff on 429 (honouring Retry-After), 5xx,
timeouts and dropped connections, and a circuit breaker per provider.

The SDK's own retries are off (`max_retries=0`) so that one policy, with the project's clock and
limits, decides; clients are kept per (base URL, key) so connections are reused."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

from salescopilot.ai.errors import (
    AiCircuitOpen,
    AiProviderError,
    AiProviderRateLimited,
    AiProviderRefused,
    AiStreamTruncated,
    AiTimeout,
)


@dataclass(frozen=True, slots=True)
class Provider:
    """Where and as whom the model is called."""

    base_url: str
    api_key: str
    model: str
    #: "tenant" or "operator": whose settings these are (shown on the settings page).
    source: str = "tenant"


@dataclass(frozen=True, slots=True)
class CallPolicy:
    timeout: float = 30.0
    max_retries: int = 2
    max_retry_after: float = 20.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    breaker_failures: int = 5
    breaker_open_seconds: float = 30.0

    @classmethod
    def from_settings(cls, ai: Any) -> CallPolicy:
        """The policy of the operator's `ai` settings (`salescopilot.settings.AiSettings`)."""
        return cls(timeout=ai.timeout, max_retries=ai.max_retries, max_retry_after=ai.max_retry_after,
                   breaker_failures=ai.breaker_failures, breaker_open_seconds=ai.breaker_open_seconds)


@dataclass(slots=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None


@dataclass(slots=True)
class StreamEnd:
    """What a stream reported once its last chunk arrived."""

    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False


@dataclass
class CircuitBreaker:
    """Per provider (base URL + model): after `failures` consecutive failed calls the circuit
    opens and calls fail at once for `open_seconds`; then one probe call is let through, whose
    success closes it again and whose failure re-opens it."""

    failures: int = 5
    open_seconds: float = 30.0
    now: Callable[[], float] = time.monotonic
    _circuits: dict[str, _Circuit] = field(default_factory=dict)

    def before_call(self, key: str) -> None:
        circuit = self._circuits.get(key)
        if circuit is None or circuit.failures < self.failures:
            return
        remaining = circuit.open_until - self.now()
        if remaining > 0 or circuit.probing:
            raise AiCircuitOpen(details={"retryAfter": max(1, round(remaining))})
        circuit.probing = True

    def succeeded(self, key: str) -> None:
        self._circuits.pop(key, None)

    def failed(self, key: str) -> None:
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.failures += 1
        circuit.probing = False
        if circuit.failures >= self.failures:
            circuit.open_until = self.now() + self.open_seconds

    def state(self, key: str) -> str:
        circuit = self._circuits.get(key)
        if circuit is None or circuit.failures < self.failures:
            return "closed"
        return "open" if circuit.open_until > self.now() else "half-open"


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """Seconds the server asked us to wait (`Retry-After` as seconds or an HTTP date,
    or the `retry-after-ms` some providers send), or None."""
    if response is None:
        return None
    headers = response.headers
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class ModelClient:
    """The one way the project talks to a model."""

    def __init__(
        self,
        policy: CallPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.policy = policy or CallPolicy()
        self.sleep = sleep
        self.breaker = breaker or CircuitBreaker(self.policy.breaker_failures, self.policy.breaker_open_seconds)
        self._clients: dict[tuple[str, str], AsyncOpenAI] = {}

    def sdk(self, provider: Provider) -> AsyncOpenAI:
        key = (provider.base_url, provider.api_key)
        client = self._clients.get(key)
        if client is None:
            timeout = httpx.Timeout(self.policy.timeout, connect=min(10.0, self.policy.timeout))
            client = AsyncOpenAI(
                api_key=provider.api_key or "none", base_url=provider.base_url or None,
                timeout=timeout, max_retries=0,
            )
            self._clients[key] = client
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()

    async def complete(
        self, provider: Provider, messages: list[dict[str, str]], *,
        json_schema: dict[str, Any] | None = None, max_tokens: int = 800, temperature: float = 0.4,
    ) -> Completion:
        """One chat completion (with a JSON schema for structured output when given)."""
        arguments: dict[str, Any] = {
            "model": provider.model, "messages": messages, "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if json_schema is not None:
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "answer"), "schema": json_schema, "strict": False},
            }

        async def call() -> Completion:
            response = await self.sdk(provider).chat.completions.create(**arguments)
            if not response.choices:
                raise AiProviderError("The model sent no answer.")
            choice = response.choices[0]
            usage = response.usage
            return Completion(
                text=choice.message.content or "",
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                finish_reason=choice.finish_reason,
            )

        return await self._with_retries(provider, call)

    async def stream(
        self, provider: Provider, messages: list[dict[str, str]], end: StreamEnd, *,
        max_tokens: int = 800, temperature: float = 0.4,
    ) -> AsyncIterator[str]:
        """Text deltas as they arrive; `end` is filled once the stream has finished. Opening the
        stream is retried like a call; a stream cut before its end raises `AiStreamTruncated`
        (what was already yielded stays with the caller, which discards it)."""

        async def open_stream():
            return await self.sdk(provider).chat.completions.create(
                model=provider.model, messages=messages, max_tokens=max_tokens,
                temperature=temperature, stream=True, stream_options={"include_usage": True},
            )

        stream = await self._with_retries(provider, open_stream)
        key = _breaker_key(provider)
        parts: list[str] = []
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    end.prompt_tokens = chunk.usage.prompt_tokens
                    end.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices or ():
                    delta = choice.delta.content if choice.delta else None
                    if delta:
                        parts.append(delta)
                        yield delta
                    if choice.finish_reason:
                        end.finish_reason = choice.finish_reason
        except (httpx.HTTPError, openai.APIError) as error:
            self.breaker.failed(key)
            raise AiStreamTruncated(details={"reason": type(error).__name__}) from error
        finally:
            await stream.close()
        if end.finish_reason is None:
            self.breaker.failed(key)
            raise AiStreamTruncated(details={"reason": "no finish reason"})
        end.text = "".join(parts)
        if not end.completion_tokens:
            end.completion_tokens = max(1, len(end.text) // 4)

    async def _with_retries(self, provider: Provider, call: Callable[[], Awaitable[Any]]) -> Any:
        key = _breaker_key(provider)
        attempt = 0
        while True:
            self.breaker.before_call(key)
            try:
                result = await call()
            except openai.RateLimitError as error:
                wait = retry_after_seconds(error.response)
                failure: Exception = AiProviderRateLimited(details={"retryAfter": round(wait or 0)})
                if wait is not None and wait > self.policy.max_retry_after:
                    raise failure from error
                # A 429 says the provider is alive: it never opens the circuit.
                self.breaker.succeeded(key)
            except openai.APIStatusError as error:
                if error.status_code < 500 and error.status_code not in (408, 409):
                    # 400/401/403/404: retrying would not help, and the provider is up.
                    self.breaker.succeeded(key)
                    raise AiProviderRefused(
                        f"The AI provider refused the request ({error.status_code}).",
                        details={"status": error.status_code},
                    ) from error
                wait = retry_after_seconds(error.response)
                failure = AiProviderError(details={"status": error.status_code})
                self.breaker.failed(key)
            except openai.APITimeoutError as error:
                wait, failure = None, AiTimeout()
                self.breaker.failed(key)
                failure.__cause__ = error
            except openai.APIConnectionError as error:
                wait, failure = None, AiProviderError("The AI provider could not be reached.")
                self.breaker.failed(key)
                failure.__cause__ = error
            else:
                self.breaker.succeeded(key)
                return result
            if attempt >= self.policy.max_retries:
                raise failure
            attempt += 1
            if wait is None:
                wait = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (attempt - 1))
                wait *= 0.5 + random.random() / 2
            await self.sleep(min(wait, self.policy.max_retry_after))


def _breaker_key(provider: Provider) -> str:
    return f"{provider.base_url}|{provider.model}"


#: The model clients of background tasks, one per event loop (a worker has one; a test run many).
_task_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ModelClient] = weakref.WeakKeyDictionary()


def task_model_client(policy: CallPolicy) -> ModelClient:
    """The model client background tasks share in this process (web requests use the app's own):
    one circuit breaker and one pool of connections for every task of the running event loop,
    so a failing provider trips the breaker for all of them."""
    loop = asyncio.get_running_loop()
    client = _task_clients.get(loop)
    if client is None:
        client = _task_clients[loop] = ModelClient(policy)
    return client


async def close_task_model_client() -> None:
    """Close the running loop's task client (when the process's task runtime stops)."""
    client = _task_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.close()
