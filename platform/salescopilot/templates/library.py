"""The library of pre-built templates a tenant can add to its own ("Add to my library").

Written for real use: short, one idea and one question each, plain words, no hype. They use
lead fields with fallbacks, so they read well when a field is empty, and `{{sender.firstName}}`,
which the sending side (and the preview) fill from the mailbox owner. The HTML body of each is
made from its text, paragraph by paragraph.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from salescopilot.errors import NotFound


class LibraryTemplateNotFound(NotFound):
    code = "LIBRARY_TEMPLATE_NOT_FOUND"
    default_message = "No such template in the library."


@dataclass(frozen=True, slots=True)
class LibraryTemplate:
    slug: str
    name: str
    category: str
    subject: str
    text: str

    @property
    def html(self) -> str:
        return text_to_html(self.text)


def text_to_html(text: str) -> str:
    """Paragraphs (blank-line separated) as <p>, line breaks as <br>; tags are left intact."""
    paragraphs = [p.strip() for p in text.strip().split("\n\n") if p.strip()]
    return "\n".join(
        "<p>" + "<br>\n".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def _t(slug: str, name: str, category: str, subject: str, text: str) -> LibraryTemplate:
    return LibraryTemplate(slug, name, category, subject, text.strip() + "\n")


LIBRARY: tuple[LibraryTemplate, ...] = (
    _t("cold-intro", "Cold intro", "Cold outreach",
       "Quick question, {{firstName|there}}",
       """
Hi {{firstName|there}},

I help sales teams like the one at {{company|yours}} book more first meetings from email, without sending more of it.

The usual problem is that every message reads like a template. The fix: fewer, more specific emails and well-timed follow-ups.

Is reply rate something you are working on this quarter? If not, no problem at all.

Thanks,
{{sender.firstName}}
"""),
    _t("follow-up-1", "Follow-up 1: gentle nudge", "Follow-up",
       "Re: Quick question, {{firstName|there}}",
       """
Hi {{firstName|there}},

Following up on my note from last week in case it got buried.

In one sentence: we help teams like {{company|yours}} get more replies by making each email specific to the person reading it.

Worth a 15-minute call to see if it fits?

{{sender.firstName}}
"""),
    _t("follow-up-2", "Follow-up 2: a useful example", "Follow-up",
       "An example for {{company|your team}}",
       """
Hi {{firstName|there}},

Rather than another request for a call, here is something you can use either way.

What helps most teams we work with: a first email under 100 words, one question, and a follow-up three business days later rather than the next morning.

If you want to see that for {{company|your team}}, reply and I will send two example emails.

{{sender.firstName}}
"""),
    _t("follow-up-3", "Follow-up 3: right person?", "Follow-up",
       "Right person at {{company|your company}}?",
       """
Hi {{firstName|there}},

I have reached out a couple of times and may have the wrong person.

If someone else at {{company|your company}} looks after outbound email, could you point me to them? A name is plenty.

Thank you,
{{sender.firstName}}
"""),
    _t("break-up", "Break-up", "Follow-up",
       "Closing the loop",
       """
Hi {{firstName|there}},

I have not heard back, so I will assume the timing is not right and stop writing.

If things change, just reply to this email and I will pick it up from here.

All the best,
{{sender.firstName}}
"""),
    _t("meeting-request", "Meeting request", "Meetings",
       "15 minutes next week?",
       """
Hi {{firstName|there}},

Would you be open to a 15-minute call next week?

I would like to hear how {{company|your team}} handles outbound today and share what has worked for similar teams. If it is not a fit, I will say so.

Tuesday or Thursday afternoon tends to work well. Does either suit you?

{{sender.firstName}}
"""),
    _t("meeting-confirmation", "Meeting confirmation", "Meetings",
       "Confirmed: our call",
       """
Hi {{firstName|there}},

Thanks for making time. I have sent a calendar invitation for our call.

To make the most of it, I will come with a short review of how {{company|your team}} reaches out today and two or three ideas you can try right away.

If anything comes up, just reply here and we will find another time.

{{sender.firstName}}
"""),
    _t("demo-no-show", "Demo no-show", "Meetings",
       "Missed you today",
       """
Hi {{firstName|there}},

Looks like we missed each other for our call today. No problem, these things happen.

Would you like to pick another time this week? Reply with a day that works and I will send a new invitation.

{{sender.firstName}}
"""),
    _t("event-invite", "Event invite", "Events",
       "Invitation for {{firstName|you}}",
       """
Hi {{firstName|there}},

We are hosting a small session for sales leaders{{#if company}} at companies like {{company}}{{/if}} on writing outbound email that gets answered. It runs for 45 minutes, with time for questions, and there is nothing to buy.

Would you like me to save you a seat? Reply and I will send the details.

{{sender.firstName}}
"""),
    _t("event-follow-up", "Event follow-up", "Events",
       "Thanks for coming",
       """
Hi {{firstName|there}},

Thank you for joining the session. I hope a few of the ideas are useful for {{company|your team}}.

As promised, I can send the slides and the example emails we went through. Would that be helpful?

{{sender.firstName}}
"""),
    _t("referral-ask", "Referral ask", "Referrals",
       "Who would you suggest?",
       """
Hi {{firstName|there}},

I am hoping you can point me in the right direction.

Who at {{company|your company}} is responsible for how the sales team runs email outreach? I would like to send them a short note, and I am happy to mention you or not, whichever you prefer.

Thanks for your help,
{{sender.firstName}}
"""),
    _t("customer-referral", "Referral from a happy customer", "Referrals",
       "A favour to ask",
       """
Hi {{firstName|there}},

I am glad the last few months have gone well for {{company|your team}}.

Do you know one or two people at other companies who might get the same value? An introduction by email is all it takes, and I will make sure they are looked after.

Either way, thank you for working with us.

{{sender.firstName}}
"""),
    _t("re-engagement", "Re-engagement", "Re-engagement",
       "Still relevant for {{company|you}}?",
       """
Hi {{firstName|there}},

We spoke a while ago about outbound email at {{company|your company}}, and I wanted to check in.

A lot has changed on our side since then, including better reporting on replies by template and by step. Is this worth another look, or should I close your file?

{{sender.firstName}}
"""),
    _t("lost-deal-check-in", "Check-in after a lost deal", "Re-engagement",
       "How is it going?",
       """
Hi {{firstName|there}},

When we last spoke, {{company|your team}} decided to go another way, and I respect that.

I am curious how it is working out. If it is going well, I am glad to hear it. If there are gaps, I would be happy to compare notes, with no pressure.

{{sender.firstName}}
"""),
    _t("case-study-share", "Case study share", "Nurture",
       "How a team like yours doubled replies",
       """
Hi {{firstName|there}},

I thought this might be relevant to {{company|your team}}.

A sales team of about twenty people we work with went from a 2% to a 5% reply rate in one quarter. They wrote shorter first emails, personalised the opening line for each lead, and stopped sending on Mondays.

Would it help if I sent the one-page summary?

{{sender.firstName}}
"""),
    _t("content-share", "Useful article", "Nurture",
       "Thought of you",
       """
Hi {{firstName|there}},

I wrote a short checklist on keeping outbound email out of the spam folder: authentication, sending volumes, and what to avoid in the message itself.

Would you like a copy? It takes five minutes to read and is useful whatever tools {{company|your team}} uses.

{{sender.firstName}}
"""),
    _t("trial-follow-up", "Trial follow-up", "Customers",
       "How is the trial going?",
       """
Hi {{firstName|there}},

You have had a few days with the trial, so I wanted to check in.

The teams that get the most from it usually start by importing one list and sending a three-step sequence to fifty people. If you have not tried that yet, I can set it up with you in twenty minutes.

Any questions so far?

{{sender.firstName}}
"""),
    _t("trial-ending", "Trial ending soon", "Customers",
       "Your trial ends soon",
       """
Hi {{firstName|there}},

A short note to say your trial ends in a few days.

If you would like to keep going, reply and I will help you choose a plan that fits {{company|your team}}. If it was not the right fit, I would value a sentence on why.

{{sender.firstName}}
"""),
    _t("post-meeting-recap", "Post-meeting recap", "Meetings",
       "Recap and next steps",
       """
Hi {{firstName|there}},

Thanks again for your time today. Here is a short recap so we are on the same page:

1. Where {{company|your team}} is today with outbound email.
2. What you would like to change this quarter.
3. The next step we agreed on.

If I have missed or misread anything, just reply and correct me.

{{sender.firstName}}
"""),
    _t("warm-intro-request", "Introduction after a mutual contact", "Cold outreach",
       "Introduction",
       """
Hi {{firstName|there}},

A mutual contact suggested I get in touch, as you are looking at how {{company|your team}} approaches outbound.

I help sales teams write fewer, better emails and follow up at the right moment. Would a short call be useful, or would you rather I send a few examples by email first?

{{sender.firstName}}
"""),
)

assert len(LIBRARY) == 20 and len({t.slug for t in LIBRARY}) == 20


def library_template(slug: str) -> LibraryTemplate:
    for item in LIBRARY:
        if item.slug == slug:
            return item
    raise LibraryTemplateNotFound(details={"slug": str(slug)[:63]})
