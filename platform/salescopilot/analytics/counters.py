"""The report's figures kept as counters per group (`analytics_counter`), so a campaign's
dashboard reads a few hundred rows instead of building a fact row for each of its messages.

One rule keeps the counters equal to the report counted from the facts: every write that
changes what the report counts of some messages (a message marked sent, tracking's per-message
summary, inbound mail and its reclassification, a lead's owner or status, an enrollment stopped
on a meeting) runs inside `counting(messages)`, which counts those messages with the report's
own statement (`report_statement`) before and after the write, and adds the difference to the
counters in the same transaction. The semantics are therefore the report's by construction (a
message opened twice counts once, a bounce report on a hard bounce counts once, a lead's new
owner takes its messages along). On PostgreSQL the messages' rows are locked first (in id
order), so two writers about the same message count one after the other.

`rebuild` recounts a tenant's counters from the facts (existing data, a migration, the CLI
`salescopilot analytics rebuild-counters`); `verify` compares both.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from salescopilot.analytics.repository import DIMENSIONS, FIGURES, AnalyticsCounterRepository, Scope
from salescopilot.analytics.stats import local_grid

#: Messages counted per statement (the before-and-after of a larger write goes in slices).
SLICE = 1000

Counts = dict[tuple[str, tuple[Any, ...]], list[int]]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def counts_of(rows: Iterable[dict[str, Any]]) -> Counts:
    """(campaign, dimensions) -> figures of the report statement's rows: `k` rows as they are,
    `s` rows (time zone, quarter hour) turned into the weekday and hour in the lead's zone."""
    counts: Counts = {}
    slots: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["grouping"] == "s":
            slots.setdefault(_text(row["campaign"]), []).append(row)
            continue
        dims = ("k", _text(row["step_key"]), _text(row["variant"]), _text(row["template"]),
                _text(row["subject_template"]), _text(row["mailbox"]), _text(row["owner"]), int(row["bucket"]), -1, -1)
        figures = counts.setdefault((_text(row["campaign"]), dims), [0] * len(FIGURES))
        for index, name in enumerate(FIGURES):
            figures[index] += int(row[name] or 0)
    for campaign, slot_rows in slots.items():
        for (weekday, hour), totals in local_grid(slot_rows).items():
            figures = counts.setdefault((campaign, ("w", "", "", "", "", "", "", -1, weekday, hour)), [0] * len(FIGURES))
            for index, name in enumerate(FIGURES):
                figures[index] += totals[name]
    return counts


def key_of(dims: tuple[Any, ...]) -> str:
    """The row's unique key: a digest of its dimensions (a subject can be longer than an index
    entry may be)."""
    return hashlib.sha256("\x1f".join(str(d) for d in dims).encode()).hexdigest()


def _rows(tenant: uuid.UUID, counts: Counts) -> list[list[Any]]:
    return [[uuid.uuid4(), tenant, campaign, key_of(dims), *dims, *figures]
            for (campaign, dims), figures in sorted(counts.items(), key=lambda item: (item[0][0], key_of(item[0][1])))
            if any(figures)]


def counter_rows(tenant: uuid.UUID, facts: Iterable[dict[str, Any]]) -> list[list[Any]]:
    """The counter rows (values of `counter_insert_statement`) of the report statement's rows."""
    return _rows(tenant, counts_of(facts))


def difference(before: Counts, after: Counts) -> Counts:
    """after - before, per group (groups that did not change left out)."""
    changed: Counts = {}
    for group in {*before, *after}:
        old, new = before.get(group), after.get(group)
        delta = [n - o for n, o in zip(new or [0] * len(FIGURES), old or [0] * len(FIGURES), strict=True)]
        if any(delta):
            changed[group] = delta
    return changed


async def counts_now(messages: Sequence[uuid.UUID]) -> Counts:
    """What the report counts of `messages` now (messages not sent count nothing)."""
    counts: Counts = {}
    ordered = sorted(set(messages), key=str)
    for start in range(0, len(ordered), SLICE):
        rows = await AnalyticsCounterRepository().fact_rows(Scope(messages=tuple(ordered[start:start + SLICE])))
        for group, figures in counts_of(rows).items():
            total = counts.setdefault(group, [0] * len(FIGURES))
            for index, value in enumerate(figures):
                total[index] += value
    return counts


async def add(counts: Counts) -> None:
    """Add `counts` (positive or negative) to the counters, in one upsert per batch."""
    counters = AnalyticsCounterRepository()
    await counters.add_rows(_rows(counters.tenant_id, counts))


async def rebuild() -> int:
    """Recount every counter of the tenant from the facts; returns how many rows it wrote.

    The rows go first, then the facts are read and added (an upsert): a writer that commits
    meanwhile either is in the facts read, or adds its difference to the new rows after."""
    counters = AnalyticsCounterRepository()
    await counters.delete_all()
    counts = counts_of(await counters.fact_rows(Scope()))
    await add(counts)
    return len([c for c in counts.values() if any(c)])


async def verify() -> Counts:
    """Where the counters differ from the facts (counters - facts); empty when they agree."""
    counters = AnalyticsCounterRepository()
    facts = counts_of(await counters.fact_rows(Scope()))
    stored: Counts = {}
    for row in await counters.stored_rows():
        stored[(row["campaign"], tuple(row[d] for d in DIMENSIONS))] = [int(row[n]) for n in FIGURES]
    return difference(facts, stored)


@dataclass
class _Counting:
    """The outermost `counting` block under way: the messages it counts and their counts before."""

    wanted: dict[uuid.UUID, None] = field(default_factory=dict)
    before: Counts = field(default_factory=dict)


_current: contextvars.ContextVar[_Counting | None] = contextvars.ContextVar("analytics_counting", default=None)


@contextlib.asynccontextmanager
async def counting(messages: Sequence[uuid.UUID] = (), *, leads: Sequence[uuid.UUID] = ()) -> AsyncIterator[None]:
    """Keep the counters right across the write in the block, which changes what the report
    counts of `messages` (and of every message of `leads`: their owner and status count).

    Blocks nest (a lead's status set while stopping its enrollments): an inner block adds its
    messages, counted before its write, to the outermost one, which adds the difference once."""
    counters = AnalyticsCounterRepository()
    outer = _current.get()
    state = outer or _Counting()
    fresh = [m for m in dict.fromkeys([*messages, *await counters.messages_of_leads(leads)])
             if m not in state.wanted]
    await counters.lock(fresh)
    if fresh:
        for group, figures in (await counts_now(fresh)).items():
            total = state.before.setdefault(group, [0] * len(FIGURES))
            for index, value in enumerate(figures):
                total[index] += value
        state.wanted.update(dict.fromkeys(fresh))
    if outer is not None:
        yield
        return
    token = _current.set(state)
    try:
        yield
    finally:
        _current.reset(token)
    if state.wanted:
        await add(difference(state.before, await counts_now(list(state.wanted))))


async def count_new(messages: Sequence[uuid.UUID]) -> None:
    """Count messages just marked sent (or refused for good at the hand-off): before that write
    the report counted nothing of them, so their whole facts are added."""
    if messages:
        await add(await counts_now(messages))
