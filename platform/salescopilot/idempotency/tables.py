from piccolo.columns import Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class IdempotencyRecord(TenantOwned, Table):
    """The stored response of a POST made with an `Idempotency-Key`, written in the same
    transaction as the effect, so a retry either replays it or the effect never happened."""

    UNIQUE_TOGETHER = (("tenant", "principal", "key"),)

    principal = Varchar(length=80)
    key = Varchar(length=255)
    request_hash = Varchar(length=64)
    status_code = Integer()
    body = Text()
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
