"""Pure arithmetic of the reports: funnel figures and rates, roll-ups of the grouped rows, the
two-proportion significance test of an A/B test, and the weekday/hour grid in local time."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from salescopilot.analytics.repository import FIGURES, LENGTH_BUCKETS, SLOT_SECONDS
from salescopilot.mailboxes.limits import zone

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def empty() -> dict[str, int]:
    return dict.fromkeys(FIGURES, 0)


def add(total: dict[str, int], row: dict[str, Any]) -> None:
    for name in FIGURES:
        total[name] += int(row.get(name) or 0)


def rate(part: int, whole: int) -> float | None:
    """`part / whole` rounded to four places; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def funnel(figures: dict[str, int]) -> dict[str, Any]:
    """The figures as the API shows them: counts (human engagement by default, machine counts
    alongside) and rates over what was delivered (bounces over what was sent)."""
    delivered = max(figures["sent"] - figures["bounced"], 0)
    return {
        "sent": figures["sent"], "delivered": delivered, "bounced": figures["bounced"],
        "opened": figures["opened"], "clicked": figures["clicked"],
        "replied": figures["replied"],
        "replies": {"reply": figures["replied"], "autoReply": figures["auto_replied"],
                    "complaint": figures["complained"], "unsubscribe": figures["unsubscribed"]},
        "unsubscribed": figures["unsubscribed"], "meetings": figures["meetings"],
        "machine": {"opened": figures["opened_machine"], "clicked": figures["clicked_machine"]},
        "rates": {
            "open": rate(figures["opened"], delivered), "click": rate(figures["clicked"], delivered),
            "reply": rate(figures["replied"], delivered), "bounce": rate(figures["bounced"], figures["sent"]),
            "unsubscribe": rate(figures["unsubscribed"], delivered), "meeting": rate(figures["meetings"], delivered),
        },
    }


def roll_up(rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> dict[Any, dict[str, int]]:
    """Figures summed per `key(row)` (rows whose key is None are left out)."""
    totals: dict[Any, dict[str, int]] = {}
    for row in rows:
        k = key(row)
        if k is None:
            continue
        add(totals.setdefault(k, empty()), row)
    return totals


def bucket_label(index: int) -> str:
    low = LENGTH_BUCKETS[index - 1] if index > 0 else 0
    if index >= len(LENGTH_BUCKETS):
        return f"{low}+ words"
    return f"{low}–{LENGTH_BUCKETS[index] - 1} words"


def local_grid(slot_rows: Iterable[dict[str, Any]]) -> dict[tuple[int, int], dict[str, int]]:
    """(weekday 0 = Monday, hour) in each lead's own timezone -> figures, from the rows grouped
    by (timezone, quarter hour in UTC). Unknown or empty zones count as UTC. Rows that already
    say their weekday and hour (the counters' `w` rows) are added as they are."""
    grid: dict[tuple[int, int], dict[str, int]] = {}
    for row in slot_rows:
        if row.get("grouping") == "w":
            add(grid.setdefault((int(row["weekday"]), int(row["hour"])), empty()), row)
            continue
        moment = dt.datetime.fromtimestamp(int(row["slot"]) * SLOT_SECONDS, dt.UTC)
        local = moment.astimezone(zone(row.get("tz") or None))
        add(grid.setdefault((local.weekday(), local.hour), empty()), row)
    return grid


# -- significance ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProportionTest:
    z: float
    p_value: float


def two_proportion_test(successes_a: int, total_a: int, successes_b: int, total_b: int) -> ProportionTest:
    """Two-sided two-proportion z-test with the pooled proportion: is rate A different from
    rate B? p = erfc(|z| / sqrt 2). With no variance at all (both 0 % or both 100 %), p = 1."""
    if total_a <= 0 or total_b <= 0:
        return ProportionTest(0.0, 1.0)
    pooled = (successes_a + successes_b) / (total_a + total_b)
    variance = pooled * (1 - pooled) * (1 / total_a + 1 / total_b)
    if variance <= 0:
        return ProportionTest(0.0, 1.0)
    z = (successes_a / total_a - successes_b / total_b) / math.sqrt(variance)
    return ProportionTest(z, math.erfc(abs(z) / math.sqrt(2)))


METRIC_FIGURE = {"reply": "replied", "open": "opened", "click": "clicked"}


def ab_verdict(variants: dict[str, dict[str, int]], *, metric: str = "reply", confidence: int = 95,
               min_sample: int = 100) -> dict[str, Any]:
    """The A/B result of one step: each variant's rate, the leader, and whether it beats every
    other variant significantly (Bonferroni: the confidence is split over the comparisons)."""
    figure = METRIC_FIGURE[metric]
    rows = []
    for key, figures in sorted(variants.items()):
        delivered = max(figures["sent"] - figures["bounced"], 0)
        rows.append({"variant": key, "delivered": delivered, "successes": figures[figure],
                     "rate": rate(figures[figure], delivered)})
    result: dict[str, Any] = {"metric": metric, "confidence": confidence, "minSample": min_sample,
                              "variants": rows, "leader": None, "winner": None, "significant": False,
                              "comparisons": [], "reason": ""}
    if len(rows) < 2:
        result["reason"] = "only one variant has been sent"
        return result
    leader = max(rows, key=lambda r: (r["rate"] or 0.0, r["delivered"]))
    result["leader"] = leader["variant"]
    alpha = (1 - confidence / 100) / (len(rows) - 1)
    significant = True
    for other in rows:
        if other is leader:
            continue
        test = two_proportion_test(leader["successes"], leader["delivered"], other["successes"], other["delivered"])
        beats = test.p_value < alpha and (leader["rate"] or 0) > (other["rate"] or 0)
        result["comparisons"].append({"against": other["variant"], "z": round(test.z, 4),
                                      "pValue": round(test.p_value, 6), "significant": beats})
        significant = significant and beats
    small = [r["variant"] for r in rows if r["delivered"] < min_sample]
    if small:
        result["reason"] = f"not enough data yet: variant(s) {', '.join(small)} have fewer than {min_sample} delivered"
    elif not significant:
        result["reason"] = f"no variant is better at {confidence} % confidence yet"
    else:
        result.update(significant=True, winner=leader["variant"],
                      reason=f"{leader['variant']} has the best {metric} rate at {confidence} % confidence")
    return result


def best_send_time(grid: dict[tuple[int, int], dict[str, int]], *, min_sample: int) -> dict[str, Any]:
    """The weekday and hour (lead's local time) with the best reply rate among those with at
    least `min_sample` delivered messages; also the best weekday and the best hour alone."""

    def best(groups: dict[Any, dict[str, int]]) -> tuple[Any, float, int] | None:
        found = None
        for key, figures in groups.items():
            delivered = max(figures["sent"] - figures["bounced"], 0)
            if delivered < min_sample:
                continue
            value = figures["replied"] / delivered
            if found is None or (value, delivered) > (found[1], found[2]):
                found = (key, value, delivered)
        return found

    by_day = roll_up(({"d": d, **f} for (d, _), f in grid.items()), lambda r: r["d"])
    by_hour = roll_up(({"h": h, **f} for (_, h), f in grid.items()), lambda r: r["h"])
    slot, day, hour = best(grid), best(by_day), best(by_hour)
    answer: dict[str, Any] = {"minSample": min_sample, "weekday": None, "hour": None, "replyRate": None,
                              "bestWeekday": None, "bestHour": None, "reason": ""}
    if slot is not None:
        answer.update(weekday=WEEKDAYS[slot[0][0]], hour=slot[0][1], replyRate=round(slot[1], 4),
                      delivered=slot[2])
    if day is not None:
        answer["bestWeekday"] = {"weekday": WEEKDAYS[day[0]], "replyRate": round(day[1], 4), "delivered": day[2]}
    if hour is not None:
        answer["bestHour"] = {"hour": hour[0], "replyRate": round(hour[1], 4), "delivered": hour[2]}
    if slot is None and day is None and hour is None:
        answer["reason"] = f"no weekday or hour has {min_sample} delivered messages yet"
    return answer
