"""Pre-built sequences a tenant can add to its own. Their steps use templates of the template
library (installed along with the sequence when the tenant does not have them yet), with delays
and conditions a seasoned sales team would choose: a reply, a bounce or an unsubscribe ends the
sequence; follow-ups reply in the thread of the first message so the lead sees the history;
the last step says goodbye instead of pushing.
"""

from __future__ import annotations

from dataclasses import dataclass

from salescopilot.errors import NotFound


class LibrarySequenceNotFound(NotFound):
    code = "LIBRARY_SEQUENCE_NOT_FOUND"
    default_message = "No such sequence in the library."


@dataclass(frozen=True, slots=True)
class LibraryStep:
    template: str  # a template library slug
    delay: int
    unit: str = "days"
    business_days: bool = True
    condition: str = "no_reply"
    thread: str = "reply"
    #: An optional B variant (another library template) split 50/50 with the first.
    variant_b: str = ""


@dataclass(frozen=True, slots=True)
class LibrarySequence:
    slug: str
    name: str
    description: str
    steps: tuple[LibraryStep, ...]


LIBRARY: tuple[LibrarySequence, ...] = (
    LibrarySequence(
        "cold-outbound-5", "Cold outbound: 5 touches over 3 weeks",
        "An intro, three follow-ups that each add something new, and a polite break-up. The first "
        "follow-ups reply in the intro's thread; the example goes out as a fresh email so it gets "
        "a second chance at the inbox. The intro is A/B tested against the warm-intro angle.",
        (
            LibraryStep("cold-intro", 0, condition="always", thread="new", variant_b="warm-intro-request"),
            LibraryStep("follow-up-1", 3),
            LibraryStep("follow-up-2", 4, thread="new"),
            LibraryStep("follow-up-3", 5),
            LibraryStep("break-up", 7),
        ),
    ),
    LibrarySequence(
        "meeting-push-3", "Meeting request: 3 touches in 10 days",
        "For leads who already know you: ask for a meeting, nudge those who opened but did not "
        "answer, then close the loop.",
        (
            LibraryStep("meeting-request", 0, condition="always", thread="new"),
            LibraryStep("follow-up-1", 3, condition="opened"),
            LibraryStep("break-up", 5),
        ),
    ),
    LibrarySequence(
        "event-invite-3", "Event: invite, reminder, follow-up",
        "Invite to an event, remind those who did not open the invitation, and follow up "
        "afterwards with what was shared.",
        (
            LibraryStep("event-invite", 0, condition="always", thread="new"),
            LibraryStep("event-invite", 3, condition="not_opened", thread="new"),
            LibraryStep("event-follow-up", 7, thread="new"),
        ),
    ),
    LibrarySequence(
        "re-engage-4", "Re-engage cold leads: 4 touches",
        "For leads that went quiet or chose someone else: a check-in, useful content for those "
        "who click, a case study, then a last check-in.",
        (
            LibraryStep("re-engagement", 0, condition="always", thread="new", variant_b="lost-deal-check-in"),
            LibraryStep("content-share", 5, thread="new"),
            LibraryStep("case-study-share", 7, condition="clicked", thread="new"),
            LibraryStep("break-up", 10),
        ),
    ),
    LibrarySequence(
        "trial-conversion-3", "Trial conversion: 3 touches",
        "From trial start to its end: check in, share how others succeed with those who did not "
        "click the first time, and remind before the trial ends.",
        (
            LibraryStep("trial-follow-up", 2, condition="always", thread="new"),
            LibraryStep("case-study-share", 4, condition="not_clicked", thread="new"),
            LibraryStep("trial-ending", 5, thread="new"),
        ),
    ),
    LibrarySequence(
        "referral-2", "Referral ask: 2 touches",
        "Ask a happy contact for an introduction, and follow up once in the same thread.",
        (
            LibraryStep("referral-ask", 0, condition="always", thread="new"),
            LibraryStep("follow-up-1", 4),
        ),
    ),
)


def library_sequence(slug: str) -> LibrarySequence:
    for item in LIBRARY:
        if item.slug == slug:
            return item
    raise LibrarySequenceNotFound(details={"slug": str(slug)[:63]})
