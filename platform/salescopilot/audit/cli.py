"""`salescopilot audit`: verify the hash chains, print a chain head, export a tenant's log.

`verify` exits 1 when any chain is broken (naming the first broken entry of each), so it can run
from cron or a monitoring check. Exports are themselves audited (`audit.exported`, actor "cli").
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import click

from salescopilot.actor import Actor, acting_as
from salescopilot.audit.chain import ChainHead, VerifyResult
from salescopilot.audit.export import FORMATS, export_entries, preamble, render, verify_jsonl
from salescopilot.audit.service import AuditService
from salescopilot.db.engine import start_database, stop_database
from salescopilot.settings import get_settings
from salescopilot.tenancy.context import TenantRef, tenant_scope
from salescopilot.tenancy.repository import TenantCatalogue

CLI_ACTOR = Actor(kind="system", label="cli")


@click.group()
def audit() -> None:
    """Verify and export the tamper-evident audit log."""


@audit.command()
@click.option("--tenant", "slug", help="Only this tenant (default: every tenant).")
@click.option(
    "--expect-head",
    "expect_head",
    help="SEQ:HASH recorded earlier with `audit head`; also detects removed newest entries. "
    "Needs --tenant.",
)
def verify(slug: str | None, expect_head: str | None) -> None:
    """Check every entry of each tenant's chain; exit 1 if any is broken."""
    if expect_head is not None and slug is None:
        raise click.UsageError("--expect-head needs --tenant")
    anchor = _parse_head(expect_head)
    results = _run(_verify(slug, anchor))
    if not results:
        click.echo("no tenants")
    broken = 0
    for tenant, result in results:
        click.echo(_describe(tenant.slug, result))
        broken += not result.ok
    if broken:
        click.echo(f"{broken} of {len(results)} audit chain(s) broken", err=True)
        sys.exit(1)


@audit.command("verify-file")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--expect-head", "expect_head", help="SEQ:HASH recorded earlier with `audit head`.")
def verify_file(path: Path, expect_head: str | None) -> None:
    """Check the chain in a full JSONL export (needs the same secret key); exit 1 if broken."""
    anchor = _parse_head(expect_head)
    with path.open(encoding="utf-8") as lines:
        result = verify_jsonl(lines, expected_head=anchor)
    click.echo(_describe(path.name, result))
    if not result.ok:
        sys.exit(1)


@audit.command()
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
def head(slug: str) -> None:
    """Print the tenant's chain head as SEQ:HASH, to record outside the database."""
    current = _run(_head(slug))
    click.echo(str(current) if current else "empty")


@audit.command()
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--format", "format_", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: standard output).",
)
def export(slug: str, format_: str, output: Path | None) -> None:
    """Export the tenant's whole log, oldest first (JSONL verifies offline)."""
    count = _run(_export(slug, format_, output))
    click.echo(f"exported {count} entries", err=True)


# -- async bodies -------------------------------------------------------------------------------


def _run(coroutine):
    return asyncio.run(_with_database(coroutine))


async def _with_database(coroutine):
    await start_database(get_settings())
    try:
        with acting_as(CLI_ACTOR):
            return await coroutine
    finally:
        await stop_database()


async def _tenant(slug: str) -> TenantRef:
    tenant = await TenantCatalogue().by_slug(slug)
    if tenant is None:
        raise click.BadParameter(f"no tenant with slug {slug!r}", param_hint="--tenant")
    return TenantRef(id=tenant.id, slug=tenant.slug)


async def _all_tenants() -> list[TenantRef]:
    return [TenantRef(id=t.id, slug=t.slug) for t in await TenantCatalogue().all()]


async def _verify(
    slug: str | None, anchor: ChainHead | None
) -> list[tuple[TenantRef, VerifyResult]]:
    tenants = [await _tenant(slug)] if slug is not None else await _all_tenants()
    service = AuditService()
    results = []
    for tenant in tenants:
        async with tenant_scope(tenant, write=False):
            results.append((tenant, await service.verify(tenant, expected_head=anchor)))
    return results


async def _head(slug: str) -> ChainHead | None:
    return await AuditService().head(await _tenant(slug))


async def _export(slug: str, format_: str, output: Path | None) -> int:
    tenant = await _tenant(slug)
    count = 0
    with _open_output(output) as stream:
        stream.write(preamble(format_))
        async for batch in export_entries(tenant):
            stream.write(render(format_, batch))
            count += len(batch)
    async with tenant_scope(tenant):
        await AuditService().record(
            "audit.exported", target_type="audit_log", target_id=tenant.slug,
            after={"format": format_, "entries": count, "output": str(output) if output else "-"},
        )
    return count


@contextlib.contextmanager
def _open_output(output: Path | None) -> Iterator[TextIO]:
    """Standard output, or a file that appears only once complete (written beside it, then
    renamed), so a failed export never leaves a plausible-looking partial file."""
    if output is None:
        yield sys.stdout
        return
    partial = output.with_name(output.name + ".part")
    try:
        # newline="": the csv module writes its own CRLF row endings.
        with partial.open("w", encoding="utf-8", newline="") as stream:
            yield stream
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


def _parse_head(text: str | None) -> ChainHead | None:
    if text is None:
        return None
    try:
        return ChainHead.parse(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--expect-head") from None


def _describe(name: str, result: VerifyResult) -> str:
    if result.ok:
        head = f", head {result.head}" if result.head else ""
        return f"{name}: ok ({result.checked} entries{head})"
    return (
        f"{name}: BROKEN at entry {result.first_broken_seq} ({result.code}): "
        f"{result.problem}; {result.checked} entries before it are intact"
    )
