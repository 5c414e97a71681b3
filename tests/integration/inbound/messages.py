"""Inbound messages for the inbound tests, written here: a reply, an out-of-office with a return
date, a hard and a soft bounce (RFC 3464), a complaint (RFC 5965) and an unsubscribe request."""

from __future__ import annotations

import itertools

_numbers = itertools.count(1)
MAILBOX = "anna@seller.example"


def _id() -> str:
    return f"<in{next(_numbers)}.test@mail.example.org>"


def reply(sender: str, in_reply_to: str | None = None, *, text: str = "Sounds interesting, can we talk on Thursday?",
          references: str = "", message_id: str | None = None) -> bytes:
    threading = ""
    if in_reply_to:
        threading = f"In-Reply-To: {in_reply_to}\r\nReferences: {references or in_reply_to}\r\n"
    return (
        f"From: Lee <{sender}>\r\nTo: {MAILBOX}\r\nSubject: Re: Quick question\r\n"
        f"Message-ID: {message_id or _id()}\r\n{threading}Date: Mon, 02 Mar 2026 11:00:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\nOn Mon, 2 Mar 2026, Anna wrote:\r\n> Hello\r\n"
    ).encode()


def out_of_office(sender: str, in_reply_to: str | None = None, *, back: str = "16 March 2026") -> bytes:
    threading = f"In-Reply-To: {in_reply_to}\r\n" if in_reply_to else ""
    return (
        f"From: Lee <{sender}>\r\nTo: {MAILBOX}\r\nSubject: Automatic reply: Quick question\r\n"
        f"Message-ID: {_id()}\r\n{threading}Auto-Submitted: auto-replied\r\n"
        f"Date: Mon, 02 Mar 2026 11:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"I am out of the office and will be back on {back}. I will have limited access to email.\r\n"
    ).encode()


def bounce(recipient: str, original_id: str | None, *, status: str = "5.1.1", action: str = "failed",
           diagnostic: str = "550 5.1.1 <{r}>: Recipient address rejected: User unknown") -> bytes:
    original = f"Message-ID: {original_id}\r\n" if original_id else ""
    return (
        f"From: MAILER-DAEMON@mx.customer.example (Mail Delivery System)\r\nTo: {MAILBOX}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: {_id()}\r\n"
        f"Date: Mon, 02 Mar 2026 11:00:00 +0000\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nThis is the mail system. Your message could not be delivered.\r\n\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic.format(r=recipient)}\r\n\r\n"
        f"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {MAILBOX}\r\nTo: {recipient}\r\n"
        f"Subject: Quick question\r\n{original}\r\n--b1--\r\n"
    ).encode()


def complaint(recipient: str, original_id: str | None) -> bytes:
    original = f"Message-ID: {original_id}\r\n" if original_id else ""
    return (
        f"From: feedback@fbl.mailbox-provider.example\r\nTo: {MAILBOX}\r\nSubject: Complaint about message\r\n"
        f"Message-ID: {_id()}\r\nDate: Mon, 02 Mar 2026 11:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="f1"\r\n\r\n'
        "--f1\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report for a message you sent.\r\n\r\n"
        "--f1\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\n"
        f"Version: 1\r\nOriginal-Rcpt-To: {recipient}\r\n\r\n"
        f"--f1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {MAILBOX}\r\nTo: {recipient}\r\n"
        f"Subject: Quick question\r\n{original}\r\n--f1--\r\n"
    ).encode()


def unsubscribe(sender: str) -> bytes:
    return (
        f"From: <{sender}>\r\nTo: {MAILBOX}\r\nSubject: Re: Quick question\r\nMessage-ID: {_id()}\r\n"
        "Date: Mon, 02 Mar 2026 11:00:00 +0000\r\n\r\nPlease remove me from your mailing list.\r\n"
    ).encode()
