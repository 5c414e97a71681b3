"""classify: the inbound classifier vs `email.message_from_bytes` alone over the same bytes.
Goal: ratio of messages/s >= 0.25.

The corpus is the hand-written fixture set (tests/fixtures/mail/*.eml: bounces of every MTA
format, auto-replies in seven languages, complaints, replies, unsubscribes, malformed mail), read
into memory once. One pass = every message once. The classifier side calls
`classify_message(raw)` (parse, report parts, decoding, cues, dates); the peer side calls
`email.message_from_bytes(raw)` (the compat32 parse every classifier has to do at least). Each
round alternates the sides pass by pass (A B B A ...) in one process until each side has run for
the round's duration. No database, no I/O.

    python benchmarks/classify.py            # full size (~50 s)
    python benchmarks/classify.py --quick    # < 15 s
"""

from __future__ import annotations

import argparse
import email
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, cpu_count, emit, load_average, summary_ms  # noqa: E402

NAME = "classify"
GOAL = 0.25
CORPUS = ROOT / "tests" / "fixtures" / "mail"


def load_corpus() -> list[bytes]:
    return [path.read_bytes() for path in sorted(CORPUS.rglob("*.eml"))]


def measure(corpus: list[bytes], rounds: int, seconds: float) -> dict:
    from salescopilot.mail.classify import classify_message

    sides = {
        "classify_message": classify_message,
        "message_from_bytes": email.message_from_bytes,
    }

    def one_pass(function, into: dict) -> None:
        cpu = time.process_time()
        started = time.perf_counter()
        for raw in corpus:
            function(raw)
        took = time.perf_counter() - started
        into["cpu"] += time.process_time() - cpu
        into["seconds"] += took
        into["passes"].append(took)

    def run_round(index: int, duration: float) -> dict[str, dict]:
        result = {name: {"passes": [], "seconds": 0.0, "cpu": 0.0} for name in sides}
        names = list(sides) if index % 2 == 0 else list(reversed(sides))
        step = 0
        while any(r["seconds"] < duration for r in result.values()):
            for name in names if step % 2 == 0 else list(reversed(names)):
                one_pass(sides[name], result[name])
            step += 1
        return result

    run_round(0, min(0.5, seconds))  # warm-up: imports, regex compilation, caches
    totals = {name: {"messages": 0, "seconds": 0.0, "cpu": 0.0, "per_message": []}
              for name in sides}
    per_round = []
    for index in range(rounds):
        result = run_round(index, seconds)
        rates = {}
        for name, part in result.items():
            messages = len(part["passes"]) * len(corpus)
            totals[name]["messages"] += messages
            totals[name]["seconds"] += part["seconds"]
            totals[name]["cpu"] += part["cpu"]
            totals[name]["per_message"] += [p / len(corpus) for p in part["passes"]]
            rates[name] = messages / part["seconds"]
        per_round.append(rates)
        print(f"round {index + 1}/{rounds}: classify {rates['classify_message']:.0f} msg/s, "
              f"parse {rates['message_from_bytes']:.0f} msg/s, ratio "
              f"{rates['classify_message'] / rates['message_from_bytes']:.3f}", flush=True)
    return {"totals": totals, "per_round": per_round}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--rounds", type=int, help="rounds (default 12, quick 4)")
    parser.add_argument("--seconds", type=float, help="seconds per side per round (default 2, "
                        "quick 1)")
    args = parser.parse_args()
    load_before = load_average()
    rounds = args.rounds or (4 if args.quick else 12)
    seconds = args.seconds or (1.0 if args.quick else 2.0)

    corpus = load_corpus()
    if not corpus:
        raise SystemExit(f"no fixtures under {CORPUS}")
    from salescopilot.mail.classify import classify_message

    kinds = Counter(classify_message(raw).kind for raw in corpus)
    result = measure(corpus, rounds, seconds)

    figures = {}
    for name, total in result["totals"].items():
        figures[name] = {
            "messages_per_s": round(total["messages"] / total["seconds"], 1),
            "mean_pass_ms_per_message": summary_ms(total["per_message"]),
            "messages": total["messages"],
            "cpu_us_per_message": round(total["cpu"] / total["messages"] * 1e6, 1),
        }
    classify, parse = figures["classify_message"], figures["message_from_bytes"]
    ratio_total = classify["messages_per_s"] / parse["messages_per_s"]
    round_ratios = [r["classify_message"] / r["message_from_bytes"] for r in result["per_round"]]
    ratio = statistics.median(round_ratios)
    for name, f in figures.items():
        print(f"{name}: {f['messages_per_s']} msg/s, {f['cpu_us_per_message']} us CPU/message")
    print(f"ratio {ratio:.3f} (median of rounds; overall {ratio_total:.3f}; goal >= {GOAL}); "
          f"corpus {len(corpus)} messages, {sum(map(len, corpus))} bytes")
    emit({
        "name": NAME,
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "ok": ratio >= GOAL,
        "ratio_overall": round(ratio_total, 3),
        "classify_message": classify,
        "message_from_bytes": parse,
        "round_ratios": [round(r, 3) for r in round_ratios],
        "corpus_messages": len(corpus),
        "corpus_bytes": sum(map(len, corpus)),
        "corpus_kinds": dict(sorted(kinds.items())),
        "rounds": rounds,
        "round_seconds": seconds,
        "quick": args.quick,
        "python": sys.version.split()[0],
        "cpu_count": cpu_count(),
        "load_average_1m": {"start": load_before, "end": load_average()},
    })


if __name__ == "__main__":
    main()
