"""The AI copilot: tenant provider settings, the model engine (retries, circuit breaker, cache,
budgets, metering), the writing and reading features, and the offline checks that need no model.

Other domains call `AiService` (for example `classify_reply_intent(text)` from the inbound side);
`offline` works without any provider configured."""
