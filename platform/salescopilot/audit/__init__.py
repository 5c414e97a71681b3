"""The tamper-evident audit log: hash-chained per tenant, append-only, verifiable, exportable.

Record from services with `AuditService(clock).record(...)` inside the tenant scope of the change;
read with `list_entries`, check with `verify`, export with `salescopilot.audit.export`.
"""

from salescopilot.audit.chain import ChainHead, VerifyResult
from salescopilot.audit.repository import AuditFilter
from salescopilot.audit.service import (
    FILTER_FIELDS,
    AuditEntryNotFound,
    AuditOutsideTransaction,
    AuditService,
    snapshot,
)
from salescopilot.audit.tables import AuditEntry

__all__ = [
    "FILTER_FIELDS",
    "AuditEntry",
    "AuditEntryNotFound",
    "AuditFilter",
    "AuditOutsideTransaction",
    "AuditService",
    "ChainHead",
    "VerifyResult",
    "snapshot",
]
