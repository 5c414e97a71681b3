"""The structured answers each feature asks the model for (their JSON schema is sent as the
response format, and every answer is validated against it)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
Line = Annotated[str, StringConstraints(min_length=1, max_length=300)]

INTENTS = (
    "interested", "not_interested", "meeting_request", "referral", "objection", "question",
    "out_of_office", "unsubscribe",
)
ASPECTS = ("personalisation", "clarity", "call_to_action", "length", "spam_risk")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class GeneratedEmail(_Answer):
    subject: Line
    body: Text


class ImprovedEmail(_Answer):
    subject: str = Field(default="", max_length=300)
    body: Text
    changes: list[Annotated[str, StringConstraints(max_length=500)]] = Field(default_factory=list, max_length=20)


class ToneRewrite(_Answer):
    body: Text


class SubjectLines(_Answer):
    subjects: list[Line] = Field(min_length=1, max_length=10)


class Icebreaker(_Answer):
    icebreaker: Annotated[str, StringConstraints(min_length=1, max_length=600)]
    pain_points: list[Annotated[str, StringConstraints(min_length=1, max_length=400)]] = Field(
        alias="painPoints", min_length=1, max_length=6)


class Correction(_Answer):
    original: str = Field(max_length=500)
    replacement: str = Field(max_length=500)
    reason: str = Field(default="", max_length=300)


class GrammarFix(_Answer):
    corrected: Text
    corrections: list[Correction] = Field(default_factory=list, max_length=100)


class ReplyIntent(_Answer):
    intent: Literal[INTENTS]  # type: ignore[valid-type]
    confidence: float = Field(ge=0, le=1)
    return_date: str | None = Field(default=None, alias="returnDate", pattern=r"^\d{4}-\d{2}-\d{2}$")
    referral: str | None = Field(default=None, max_length=300)
    summary: str = Field(default="", max_length=600)
    suggested_reply: str = Field(default="", alias="suggestedReply", max_length=5000)


class SuggestedReply(_Answer):
    body: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class CoachingItem(_Answer):
    aspect: Literal[ASPECTS]  # type: ignore[valid-type]
    score: int = Field(ge=0, le=10)
    suggestion: Annotated[str, StringConstraints(min_length=1, max_length=600)]


class Coaching(_Answer):
    items: list[CoachingItem] = Field(min_length=1, max_length=10)
    summary: str = Field(default="", max_length=600)


class Recommendation(_Answer):
    title: Line
    detail: Annotated[str, StringConstraints(max_length=1000)] = ""
    evidence: Annotated[str, StringConstraints(max_length=500)] = ""


class Recommendations(_Answer):
    recommendations: list[Recommendation] = Field(min_length=1, max_length=8)
