from salescopilot.idempotency.tables import IdempotencyRecord
from salescopilot.tenancy.repository import TenantRepository


class IdempotencyRepository(TenantRepository[IdempotencyRecord]):
    table = IdempotencyRecord

    async def lookup(self, principal: str, key: str) -> IdempotencyRecord | None:
        return await self.find_one(
            (IdempotencyRecord.principal == principal) & (IdempotencyRecord.key == key)
        )
