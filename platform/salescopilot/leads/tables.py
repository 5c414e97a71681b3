"""Leads, lists of leads, CSV imports (with their checkpoint and skipped rows) and saved column
mappings."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned

STATUSES = (
    "new", "active", "replied", "interested", "not_interested", "meeting_booked", "bounced",
    "unsubscribed", "paused",
)


class Lead(TenantOwned, Table, tablename="lead"):
    #: One lead per address per tenant, whatever its case.
    UNIQUE_TOGETHER = (("tenant", "email_normalised"),)
    INDEX_TOGETHER = (("tenant", "created_at"), ("tenant", "status"), ("tenant", "updated_at"))

    #: Every index starts with the tenant: the mixin's own index on it would only cost writes
    #: (a status change rewrites every index entry of the lead: a scheduler pass starts 1,000).
    tenant = UUID(null=False)
    email = Varchar(length=320)
    #: `email` trimmed and lower-cased: what uniqueness, dedupe and suppression compare.
    email_normalised = Varchar(length=320)
    first_name = Varchar(length=100, default="")
    last_name = Varchar(length=100, default="")
    company = Varchar(length=200, default="")
    title = Varchar(length=200, default="")
    phone = Varchar(length=50, default="")
    website = Varchar(length=500, default="")
    linkedin_url = Varchar(length=500, default="")
    #: IANA zone (Europe/Berlin); inferred from country or phone when not given.
    timezone = Varchar(length=64, default="")
    #: ISO 3166-1 alpha-2 when recognised, else as given.
    country = Varchar(length=100, default="")
    #: {"industry": "Logistics", ...}: every unmapped import column lands here.
    custom_fields = JSON(default="{}")
    #: Lower-cased tags between commas, with a comma at each end (",vip,q4,"), so one LIKE
    #: finds a tag on SQLite and PostgreSQL alike.
    tags = Text(default="")
    owner = UUID(null=True, default=None)
    status = Varchar(length=20, default="new")
    #: The import that last created or updated the lead: a second row with the same address
    #: in that import is a duplicate within the file, also after a resumed crash.
    last_import = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class LeadList(TenantOwned, Table, tablename="lead_list"):
    name = Varchar(length=200)
    created_at = Timestamptz(default=TimestamptzNow())


class LeadListItem(TenantOwned, Table, tablename="lead_list_item"):
    """A lead's membership of a list."""

    UNIQUE_TOGETHER = (("tenant", "list", "lead"),)
    INDEX_TOGETHER = (("tenant", "lead"),)

    list = UUID()
    lead = UUID()
    created_at = Timestamptz(default=TimestamptzNow())


class LeadImport(TenantOwned, Table, tablename="lead_import"):
    """One CSV import: the uploaded file (in the var dir), what was detected, the mapping chosen,
    and progress. `checkpoint_offset`/`checkpoint_row` move in the same transaction as each batch
    of leads, so a resumed import starts exactly after the last committed batch."""

    INDEX_TOGETHER = (("tenant", "created_at"),)

    #: uploaded -> queued -> running -> completed | failed
    status = Varchar(length=20, default="uploaded")
    filename = Varchar(length=255, default="")
    #: File name inside `<var_dir>/imports/` (never a path taken from the client).
    stored_name = Varchar(length=100)
    size_bytes = BigInt(default=0)
    encoding = Varchar(length=20, default="utf-8")
    delimiter = Varchar(length=2, default=",")
    #: Column names of the file's first row.
    header = JSON(default="[]")
    #: Column name -> lead field, "custom:<key>" or "ignore".
    mapping = JSON(default="{}")
    #: "update" existing leads or "skip" them.
    on_duplicate = Varchar(length=10, default="update")
    #: Add every imported lead to this list, tag it with these tags.
    target_list = UUID(null=True, default=None)
    #: Tags given to every imported lead, stored as `Lead.tags` is.
    tags = Text(default="")
    checkpoint_offset = BigInt(default=0)
    checkpoint_row = BigInt(default=0)
    rows_processed = BigInt(default=0)
    imported = BigInt(default=0)
    updated = BigInt(default=0)
    skipped = BigInt(default=0)
    error = Text(default="")
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)


class LeadImportProblem(TenantOwned, Table, tablename="lead_import_problem"):
    """A skipped row of an import and why: the downloadable report."""

    INDEX_TOGETHER = (("tenant", "lead_import", "row_number"),)

    lead_import = UUID()
    #: The row's number in the file, the header being row 1 (as a spreadsheet numbers it).
    row_number = BigInt()
    reason = Varchar(length=40)
    detail = Text(default="")
    email = Varchar(length=320, default="")


class LeadImportMapping(TenantOwned, Table, tablename="lead_import_mapping"):
    """A saved column mapping, applied by column name to later files."""

    UNIQUE_TOGETHER = (("tenant", "name"),)

    name = Varchar(length=100)
    mapping = JSON(default="{}")
    created_at = Timestamptz(default=TimestamptzNow())
