"""The significance test and the verdict on known values (R: prop.test(c(45, 30), c(100, 100),
correct = FALSE) gives X-squared = 4.8, p = 0.02846)."""

from __future__ import annotations

import math

from salescopilot.analytics.stats import ab_verdict, two_proportion_test


def _figures(sent: int, replied: int) -> dict[str, int]:
    return {"sent": sent, "bounced": 0, "opened": 0, "opened_machine": 0, "clicked": 0, "clicked_machine": 0,
            "replied": replied, "auto_replied": 0, "complained": 0, "unsubscribed": 0, "meetings": 0}


def test_two_proportion_test_matches_the_textbook():
    test = two_proportion_test(45, 100, 30, 100)
    assert math.isclose(test.z ** 2, 4.8, rel_tol=1e-9)
    assert math.isclose(test.p_value, 0.028459736916, rel_tol=1e-6)
    assert two_proportion_test(30, 100, 45, 100).z < 0


def test_no_variance_and_no_data_give_no_evidence():
    assert two_proportion_test(0, 100, 0, 100).p_value == 1.0
    assert two_proportion_test(100, 100, 50, 50).p_value == 1.0
    assert two_proportion_test(0, 0, 5, 10).p_value == 1.0


def test_verdict_splits_the_confidence_over_the_comparisons():
    # A beats B alone at 95 % (p = 0.028), but with a third variant each comparison needs p < 0.025.
    assert ab_verdict({"A": _figures(100, 45), "B": _figures(100, 30)})["winner"] == "A"
    three = ab_verdict({"A": _figures(100, 45), "B": _figures(100, 30), "C": _figures(100, 10)})
    assert three["leader"] == "A" and three["winner"] is None and not three["significant"]
    small = ab_verdict({"A": _figures(50, 40), "B": _figures(50, 5)})
    assert small["winner"] is None and "fewer than 100" in small["reason"]
    assert ab_verdict({"A": _figures(100, 45)})["reason"] == "only one variant has been sent"
