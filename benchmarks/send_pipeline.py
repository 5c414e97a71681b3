"""send_pipeline: the whole send path vs a raw aiosmtplib loop. Goal: ratio of messages/s >= 0.6.

Ours: messages waiting in the outbox go through `OutboxSender.run_pass` exactly as a worker runs
it — the claim (leases, limits, rotation), claimed → sending committed, the message built (MIME,
signature, footer, List-Unsubscribe) and DKIM-signed (RSA 2048), handed over SMTP by the
`mail_smtp` provider on its pooled connection, and the outcome written with its send attempt.
Four mailboxes, so four SMTP connections, sending at once.

Peer: a bare aiosmtplib loop over four connections sending pre-built, pre-signed messages of
the same size, in the same run, to the same aiosmtpd sink on loopback, on a thread of this
process. `--sink-process` runs the sink in a process of its own, as a mail server is: the bare
loop then runs much faster (it no longer waits for the sink's turn at the interpreter lock), so
the ratio is lower; see `_smtp_sink.py` and benchmarks/README.md.

    python benchmarks/send_pipeline.py            # SQLite, full size
    python benchmarks/send_pipeline.py --quick    # < 60 s
    SALESCOPILOT_DATABASE__URL=postgresql://postgres@127.0.0.1:5432/test python benchmarks/send_pipeline.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import bench_environment, cpu_count, database_kind, emit, load_average, seed_tenant  # noqa: E402
from _smtp_sink import SmtpSink  # noqa: E402

NAME = "send_pipeline"
GOAL = 0.6
CONNECTIONS = 4
BODY = ("Hi there,\n\nI noticed your team is hiring account executives. We help sales teams "
        "book more meetings without adding headcount. Worth a short call next week?\n\nBest,\nAnna\n")


async def measure(rounds: int, per_round: int, sink_process: bool = False) -> dict:
    import aiosmtplib

    from salescopilot.crypto import SecretBox
    from salescopilot.db.engine import connected
    from salescopilot.mail.dkim import generate_dkim_key
    from salescopilot.mail.message import Address, DkimKey, MessageSpec, build_message, new_message_id
    from salescopilot.mailboxes.repository import SendingDomainRepository
    from salescopilot.mailboxes.schemas import MailboxInput
    from salescopilot.mailboxes.service import MailboxService
    from salescopilot.mailboxes.tables import SendingDomain
    from salescopilot.outbox.sender import OutboxSender
    from salescopilot.outbox.service import NewMessage, OutboxService
    from salescopilot.settings import get_settings
    from salescopilot.tenancy.context import tenant_context, tenant_scope

    settings = get_settings()
    settings.outbox.concurrency = CONNECTIONS
    settings.outbox.claim_batch = 200
    pem, _ = generate_dkim_key("rsa")
    with SmtpSink(own_process=sink_process) as sink:
        async with connected(settings):
            tenant, _ = await seed_tenant("bench", "owner@bench.example")
            box = SecretBox.from_settings(settings)
            async with tenant_scope(tenant):
                await SendingDomainRepository().add(SendingDomain(
                    id=uuid.uuid4(), domain="sender.example.com", dkim_selector="s1",
                    dkim_private_key=box.encrypt(pem.decode()), dkim_enabled=True,
                ))
                mailboxes = []
                for n in range(CONNECTIONS):
                    row = await MailboxService(box=box).create(MailboxInput(
                        email=f"rep{n}@sender.example.com", from_name=f"Rep {n}", provider="smtp",
                        min_gap_seconds=0, jitter_seconds=0, signature_text="Anna Berg\nAcme",
                        account={"address": f"rep{n}@sender.example.com", "smtp_host": "127.0.0.1",
                                 "smtp_port": sink.port, "smtp_security": "none", "auth_method": "none",
                                 "append_to_sent": "never"},
                    ))
                    mailboxes.append(row.id)

            async def enqueue(count: int) -> None:
                async with tenant_scope(tenant):
                    service = OutboxService(settings.outbox)
                    for n in range(count):
                        await service.enqueue(NewMessage(
                            enrollment=uuid.uuid4(), step=0, mailbox=mailboxes[n % CONNECTIONS],
                            recipient_email=f"lead{n}@customer{n % 50}.example.com", recipient_name="Lee Ad",
                            subject="A quick question about your sales team", text=BODY,
                            html="<p>" + BODY.replace("\n\n", "</p><p>") + "</p>",
                        ))

            sender = OutboxSender(settings)

            async def ours(count: int) -> float:
                await enqueue(count)
                before = sink.accepted
                t0 = time.perf_counter()
                with tenant_context(tenant):
                    while await sender.run_pass():
                        pass
                elapsed = time.perf_counter() - t0
                assert sink.accepted - before == count, (sink.accepted - before, count)
                return elapsed

            key = DkimKey("sender.example.com", "s1", pem)
            prebuilt = [
                build_message(MessageSpec(
                    message_id=new_message_id("sender.example.com"),
                    sender=Address(f"rep{n % CONNECTIONS}@sender.example.com", "Rep"),
                    recipient=Address(f"lead{n}@customer.example.com", "Lee Ad"),
                    subject="A quick question about your sales team", text=BODY + "-- \nAnna Berg\nAcme",
                    html="<p>" + BODY + "</p>", date=__import__("datetime").datetime.now(__import__("datetime").UTC),
                    unsubscribe_url="https://bench.localhost/u/x", postal_address="1 Main St, Springfield",
                    dkim=key,
                ))
                for n in range(per_round)
            ]

            async def bare(count: int) -> float:
                clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port) for _ in range(CONNECTIONS)]
                for client in clients:
                    await client.connect()
                before = sink.accepted
                t0 = time.perf_counter()

                async def lane(index: int) -> None:
                    for n in range(index, count, CONNECTIONS):
                        await clients[index].sendmail(
                            f"rep{index}@sender.example.com", [f"lead{n}@customer.example.com"], prebuilt[n]
                        )

                await asyncio.gather(*(lane(i) for i in range(CONNECTIONS)))
                elapsed = time.perf_counter() - t0
                for client in clients:
                    await client.quit()
                assert sink.accepted - before == count
                return elapsed

            await ours(40)
            await bare(40)
            per = []
            totals = {"ours": [0, 0.0], "bare": [0, 0.0]}
            for index in range(rounds):
                order = [("ours", ours), ("bare", bare)]
                if index % 2:
                    order.reverse()
                rates = {}
                for name, side in order:
                    elapsed = await side(per_round)
                    rates[name] = per_round / elapsed
                    totals[name][0] += per_round
                    totals[name][1] += elapsed
                per.append(rates)
                print(f"round {index + 1}/{rounds}: ours {rates['ours']:.0f} msg/s, bare {rates['bare']:.0f} "
                      f"msg/s, ratio {rates['ours'] / rates['bare']:.3f}", flush=True)
    return {"per_round": per, "totals": totals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--sink-process", action="store_true",
                        help="run the SMTP sink in a process of its own instead of on a thread of this one "
                             "(where it shares the interpreter lock with both sides)")
    args = parser.parse_args()
    rounds, per_round = (4, 200) if args.quick else (10, 500)
    load_start = load_average()
    with bench_environment(NAME):
        kind = database_kind()
        result = asyncio.run(measure(rounds, per_round, args.sink_process))
    ratios = [r["ours"] / r["bare"] for r in result["per_round"]]
    ours_rate = result["totals"]["ours"][0] / result["totals"]["ours"][1]
    bare_rate = result["totals"]["bare"][0] / result["totals"]["bare"][1]
    ratio = statistics.median(ratios)
    emit({
        "name": NAME, "ratio": round(ratio, 3), "goal": GOAL, "ok": ratio >= GOAL,
        "ratio_overall": round(ours_rate / bare_rate, 3),
        "ours_msgs_per_s": round(ours_rate, 1), "bare_msgs_per_s": round(bare_rate, 1),
        "connections": CONNECTIONS, "messages_per_round": per_round, "rounds": rounds,
        "sink": "process" if args.sink_process else "thread",
        "database": kind, "cpu_count": cpu_count(), "load_average": [load_start, load_average()],
    })


if __name__ == "__main__":
    main()
