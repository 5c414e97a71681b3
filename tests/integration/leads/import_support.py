"""Running a CSV import the way the task does, without HTTP: upload, start, `run_import`."""

from __future__ import annotations

import uuid

from salescopilot.clock import system_clock
from salescopilot.leads.import_runner import run_import
from salescopilot.leads.imports import ImportService
from salescopilot.tenancy.context import TenantRef, tenant_scope


async def _chunks(data: bytes, size: int = 7919):
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def upload(settings, tenant: TenantRef, data: bytes, filename: str = "leads.csv"):
    async with tenant_scope(tenant):
        service = ImportService(clock=system_clock, var_dir=settings.var_dir)
        return await service.upload(filename, _chunks(data), created_by=None)


async def start(settings, tenant: TenantRef, import_id: uuid.UUID, **options):
    async with tenant_scope(tenant):
        service = ImportService(clock=system_clock, var_dir=settings.var_dir)
        return await service.start(
            import_id, mapping=options.get("mapping"), on_duplicate=options.get("on_duplicate", "update"),
            list_id=options.get("list_id"), tags=list(options.get("tags", [])),
            save_mapping_as=options.get("save_mapping_as", ""),
        )


async def import_bytes(settings, tenant: TenantRef, data: bytes, *, batch_size: int = 1000, **options) -> dict:
    row = await upload(settings, tenant, data)
    await start(settings, tenant, row.id, **options)
    return await run_import(tenant, row.id, clock=system_clock, var_dir=settings.var_dir, batch_size=batch_size)


async def problems(settings, tenant: TenantRef, import_id) -> list[list[str]]:
    import csv
    import io

    async with tenant_scope(tenant):
        service = ImportService(clock=system_clock, var_dir=settings.var_dir)
        text = "".join([chunk async for chunk in service.report_csv(uuid.UUID(str(import_id)))])
    return list(csv.reader(io.StringIO(text)))[1:]
