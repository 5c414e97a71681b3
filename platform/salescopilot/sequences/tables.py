"""Sequences and their versions. A version is immutable once a campaign runs it: editing a
sequence with running enrollments saves a new version (steps and stop rules as JSON)."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class Sequence(TenantOwned, Table, tablename="email_sequence"):
    INDEX_TOGETHER = (("tenant", "updated_at"),)

    name = Varchar(length=200)
    description = Text(default="")
    #: The version new campaigns run and the builder edits.
    version = Integer(default=1)
    #: The pre-built sequence it was installed from, if any.
    library_slug = Varchar(length=63, default="")
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class SequenceVersion(TenantOwned, Table, tablename="email_sequence_version"):
    UNIQUE_TOGETHER = (("tenant", "sequence", "version"),)

    sequence = UUID()
    version = Integer()
    #: [{"key", "name", "delay", "unit", "business_days", "condition", "thread",
    #:   "variants": [{"key", "weight", "template", "subject", "html", "text"}]}, ...]
    steps = JSON(default="[]")
    #: {"reply": true, "meeting_booked": true, "bounce": true, "unsubscribe": true,
    #:  "out_of_office": true}
    stop_rules = JSON(default="{}")
    saved_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
