"""imap_sync: one incremental inbound sync cycle over 1,000 mailboxes on one Dovecot (1,000 users)
with no new mail. Goal: the cycle takes <= 60 s and the process's peak RSS stays <= 300 MB.

Set-up (not measured): a throw-away database (see _harness.py), a private Dovecot on loopback
(tests/mailservers), 1,000 users with one message each in their INBOX (written as maildir files),
one tenant with 1,000 `smtp` mailboxes pointing at them, and a first sync that reads and stores
those 1,000 messages. Measured: `InboxSync.sync_tenant()` as the `inbound.sync` task runs it:
for each mailbox a login, LIST (spam folder), STATUS of the INBOX, LOGOUT, 8 mailboxes at a time,
and no database write. Peer, for scale: a bare aioimaplib loop doing login, STATUS INBOX and
logout for the same users with the same concurrency, no database. Cycles alternate (ABBA).

    python benchmarks/imap_sync.py            # 1,000 mailboxes, 3 cycles per side
    python benchmarks/imap_sync.py --quick    # 100 mailboxes, 2 cycles per side (< 60 s)
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _harness import bench_environment, cpu_count, database_kind, emit, load_average, seed_tenant  # noqa: E402

NAME = "imap_sync"
GOAL_SECONDS = 60.0
GOAL_RSS_MB = 300.0
PASSWORD = "bench imap password"
CONCURRENCY = 8


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def one_message(user: str) -> bytes:
    return (f"From: Lead <lead@customer.example>\r\nTo: {user}\r\nSubject: Re: hello\r\n"
            f"Message-ID: <first.{user}>\r\nDate: Mon, 02 Mar 2026 11:00:00 +0000\r\n\r\n"
            "Thanks, let's talk next week.\r\n").encode()


async def bare_cycle(host: str, port: int, users: list[str]) -> float:
    import aioimaplib

    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(user: str) -> None:
        async with slots:
            client = aioimaplib.IMAP4(host=host, port=port, timeout=30)
            await client.wait_hello_from_server()
            await client.login(user, PASSWORD)
            response = await client.status('"INBOX"', "(UIDVALIDITY UIDNEXT)")
            assert response.result == "OK", response
            await client.logout()

    started = time.perf_counter()
    await asyncio.gather(*(one(u) for u in users))
    return time.perf_counter() - started


async def run(mailboxes: int, cycles: int) -> dict:
    from salescopilot.db.engine import connected
    from salescopilot.inbound import sync as sync_module
    from salescopilot.inbound.sync import InboxSync
    from salescopilot.mailboxes.providers import provider_instances
    from salescopilot.mailboxes.schemas import MailboxInput
    from salescopilot.mailboxes.service import MailboxService
    from salescopilot.settings import get_settings
    from salescopilot.tenancy.context import tenant_context, tenant_scope
    from tests.mailservers.dovecot import Dovecot

    settings = get_settings()
    dovecot = Dovecot().start()
    try:
        users = [f"box{n:04d}@seller.example" for n in range(mailboxes)]
        for user in users:
            dovecot.add_user(user, PASSWORD)
            dovecot.write_maildir(user, [one_message(user)])
        async with connected(settings):
            tenant, _ = await seed_tenant("imapbench", "owner@imapbench.example")
            async with tenant_scope(tenant):
                service = MailboxService()
                for user in users:
                    await service.create(MailboxInput(
                        email=user, provider="smtp", account={
                            "address": user, "smtp_host": "127.0.0.1", "smtp_port": 2525,
                            "smtp_security": "none", "auth_method": "none", "imap_host": dovecot.host,
                            "imap_port": dovecot.port, "imap_security": "none", "imap_password": PASSWORD,
                        }))
            sync_module.CONCURRENT_MAILBOXES = CONCURRENCY
            syncer = InboxSync(settings)
            with tenant_context(tenant):
                started = time.perf_counter()
                first = await syncer.sync_tenant()
                first_seconds = time.perf_counter() - started
                assert first.stored == mailboxes and not first.failed, (first.stored, list(first.failed.items())[:3])
                print(f"first sync: {mailboxes} mailboxes, {first.stored} messages stored in {first_seconds:.1f} s",
                      flush=True)
                ours: list[float] = []
                bare: list[float] = []
                for index in range(cycles * 2):
                    our_turn = index % 4 in (0, 3)
                    if our_turn:
                        started = time.perf_counter()
                        report = await syncer.sync_tenant()
                        ours.append(time.perf_counter() - started)
                        assert report.stored == 0 and not report.failed and report.mailboxes == mailboxes, report
                        print(f"sync cycle: {ours[-1]:.2f} s, peak RSS {peak_rss_mb()} MB", flush=True)
                    else:
                        bare.append(await bare_cycle(dovecot.host, dovecot.port, users))
                        print(f"bare aioimaplib cycle: {bare[-1]:.2f} s", flush=True)
            await provider_instances.close_all()
    finally:
        dovecot.stop()
    cycle = statistics.median(ours)
    peak = peak_rss_mb()
    return {
        "name": NAME, "ratio": round(statistics.median(bare) / cycle, 3), "goal": f"<= {GOAL_SECONDS:g} s, <= {GOAL_RSS_MB:g} MB",
        "ok": cycle <= GOAL_SECONDS and peak <= GOAL_RSS_MB,
        "cycle_s": round(cycle, 2), "cycle_max_s": round(max(ours), 2), "goal_s": GOAL_SECONDS,
        "peak_rss_mb": peak, "goal_rss_mb": GOAL_RSS_MB, "bare_cycle_s": round(statistics.median(bare), 2),
        "first_sync_s": round(first_seconds, 2), "mailboxes": mailboxes, "concurrency": CONCURRENCY,
        "database": database_kind(), "cpu_count": cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 mailboxes, 2 cycles per side")
    parser.add_argument("--mailboxes", type=int, default=None)
    args = parser.parse_args()
    mailboxes = args.mailboxes or (100 if args.quick else 1000)
    cycles = 2 if args.quick else 3
    load_before = load_average()
    with bench_environment(NAME):
        result = asyncio.run(run(mailboxes, cycles))
    result["load_average"] = [load_before, load_average()]
    print(f"idle cycle over {mailboxes} mailboxes: {result['cycle_s']} s (bare aioimaplib "
          f"{result['bare_cycle_s']} s), peak RSS {result['peak_rss_mb']} MB; goal {result['goal']}", flush=True)
    emit(result)


if __name__ == "__main__":
    main()
