"""Incremental reading of a mailbox's INBOX and spam folder by UIDVALIDITY/UID.

The cursor the core stores is JSON: `{"INBOX": [uidvalidity, last_uid], "Junk": [...]}` (the
older "uidvalidity:uid" form is read as the INBOX's position). A folder whose UIDVALIDITY changed
is read again from its first message: its old UIDs mean nothing any more, and the core keys every
message by its Message-ID (or a hash of its bytes), so re-reading one changes nothing.

An idle folder costs one STATUS (UIDVALIDITY UIDNEXT): nothing is selected or searched unless the
server has given out a UID beyond the stored position.
"""

from __future__ import annotations

import json
import logging

from plugins.providers.mail_smtp.account import SmtpAccount
from plugins.providers.mail_smtp.imap import ImapProblem, ImapSession
from salescopilot.plugin_system.interfaces import FetchedMessages, InboundMessage

log = logging.getLogger("plugins.providers.mail_smtp")

#: At most this much of each message is read (the classifier reads no more than 512 KiB).
MAX_MESSAGE_BYTES = 512 * 1024
#: Messages per UID FETCH round trip.
FETCH_BATCH = 50

Positions = dict[str, tuple[int, int]]


def parse_cursor(cursor: str | None) -> Positions:
    """Folder -> (UIDVALIDITY, last UID read); a missing or garbled cursor starts over."""
    if not cursor:
        return {}
    validity, _, uid = cursor.partition(":")
    if validity.isdigit() and uid.isdigit():
        return {"INBOX": (int(validity), int(uid))}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    positions: Positions = {}
    if isinstance(data, dict):
        for folder, value in data.items():
            if (isinstance(folder, str) and isinstance(value, list) and len(value) == 2
                    and all(isinstance(v, int) and v >= 0 for v in value)):
                positions[folder] = (value[0], value[1])
    return positions


def format_cursor(positions: Positions) -> str:
    return json.dumps({folder: list(position) for folder, position in sorted(positions.items())},
                      ensure_ascii=False, separators=(",", ":"))


def message_key(folder: str, validity: int, uid: int) -> str:
    return f"{folder}:{validity}:{uid}"


async def fetch_new(
    session: ImapSession, account: SmtpAccount, cursor: str | None, limit: int
) -> FetchedMessages:
    """Up to `limit` messages after the cursor, INBOX first, then the spam folder, each oldest
    first. A connection lost mid-read returns what was read (`has_more`), so the caller's next
    call resumes after it instead of reading it again."""
    positions = parse_cursor(cursor)
    folders = ["INBOX"]
    spam = await session.spam_folder()
    if spam and spam.upper() != "INBOX":
        folders.append(spam)
    messages: list[InboundMessage] = []
    has_more = False
    for folder in folders:
        if len(messages) >= limit:
            has_more = True
            break
        validity, uid_next = await session.status(folder)
        old_validity, last_uid = positions.get(folder, (validity, 0))
        if old_validity != validity:
            log.info("UIDVALIDITY of %s changed for %s: reading it again", folder, account.address)
            last_uid = 0
        if uid_next <= last_uid + 1:
            positions[folder] = (validity, last_uid)
            continue
        selected = await session.select(folder)
        if selected != validity:  # changed between STATUS and SELECT
            validity, last_uid = selected, 0
        uids = await session.uids_after(folder, last_uid)
        room = limit - len(messages)
        wanted, folder_has_more = uids[:room], len(uids) > room
        for start in range(0, len(wanted), FETCH_BATCH):
            chunk = wanted[start : start + FETCH_BATCH]
            try:
                fetched = await session.fetch_many(chunk, MAX_MESSAGE_BYTES)
                if account.mark_fetched and fetched:
                    await session.add_flag([m.uid for m in fetched], account.mark_fetched)
            except ImapProblem:
                if not messages:
                    raise
                positions[folder] = (validity, last_uid)
                return FetchedMessages(messages=messages, cursor=format_cursor(positions), has_more=True)
            for mail in fetched:
                messages.append(InboundMessage(
                    provider_message_id=message_key(folder, validity, mail.uid), raw=mail.raw,
                    folder=folder, received_at=mail.received_at, size=mail.size,
                ))
            last_uid = chunk[-1]
        if folder_has_more:
            has_more = True
        else:
            # Every UID below UIDNEXT existed when STATUS answered, and SEARCH (run after it)
            # found all that remain: the ones in between were expunged and never come back.
            last_uid = max(last_uid, uid_next - 1)
        positions[folder] = (validity, last_uid)
    return FetchedMessages(messages=messages, cursor=format_cursor(positions), has_more=has_more)
