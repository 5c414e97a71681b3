"""Email templates and their versions (every save is a new version; restoring one saves a new
version with its content)."""

from __future__ import annotations

from piccolo.columns import UUID, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class EmailTemplate(TenantOwned, Table, tablename="email_template"):
    INDEX_TOGETHER = (("tenant", "updated_at"), ("tenant", "category"))

    name = Varchar(length=200)
    category = Varchar(length=50, default="")
    subject = Varchar(length=500, default="")
    html_body = Text(default="")
    text_body = Text(default="")
    #: The version the current content is (1, 2, ...).
    version = Integer(default=1)
    #: The library template it was installed from, if any.
    library_slug = Varchar(length=63, default="")
    #: The AI draft (`ai_draft`: model, prompt version, tokens) the current version's content
    #: came from, as on that version.
    ai_draft = UUID(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class EmailTemplateVersion(TenantOwned, Table, tablename="email_template_version"):
    UNIQUE_TOGETHER = (("tenant", "template", "version"),)

    template = UUID()
    version = Integer()
    name = Varchar(length=200)
    category = Varchar(length=50, default="")
    subject = Varchar(length=500, default="")
    html_body = Text(default="")
    text_body = Text(default="")
    #: The AI draft this version's content came from, if the seller used an AI suggestion; a
    #: later save without a new one keeps it (the content is still the AI's, edited).
    ai_draft = UUID(null=True, default=None)
    saved_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
