"""Provenance of AI-written content, shared by the features that save it (composer drafts,
template versions): the check that an `aiDraftId` given with saved content is one of this
workspace's AI drafts, and what the page shows about it (model, prompt version, tokens)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from salescopilot.ai.repository import AiDraftRepository
from salescopilot.ai.tables import AiDraft
from salescopilot.errors import ValidationFailed


async def require_ai_draft(ai_draft: uuid.UUID | None, error: type[ValidationFailed]) -> None:
    """Raise `error` (the caller's 422, naming the `aiDraftId` field) unless `ai_draft` is None or
    one of the current tenant's AI drafts (another workspace's id is as unknown as a made-up one)."""
    if ai_draft is not None and not await AiDraftRepository().has(ai_draft):
        raise error(details={"field": "aiDraftId"})


def provenance_json(ai: AiDraft) -> dict[str, Any]:
    return {"aiDraftId": str(ai.id), "feature": ai.feature, "model": ai.model, "promptVersion": ai.prompt_version,
            "promptTokens": ai.prompt_tokens, "completionTokens": ai.completion_tokens}


async def ai_provenance(ai_draft: uuid.UUID | None) -> dict[str, Any] | None:
    """Which model and prompt version wrote the content, with the tokens it took (None without
    an AI draft, or when it is not the tenant's)."""
    if ai_draft is None:
        return None
    ai = await AiDraftRepository().get(ai_draft)
    return provenance_json(ai) if ai else None


async def ai_provenances(ai_drafts: Iterable[uuid.UUID | None]) -> dict[str, dict[str, Any]]:
    """`ai_provenance` for several ids in one query, keyed by the id as text."""
    ids = sorted({i for i in ai_drafts if i is not None}, key=str)
    if not ids:
        return {}
    return {str(ai.id): provenance_json(ai) for ai in await AiDraftRepository().of_ids(ids)}
