"""Deliverability: address verification, the content spam checker, domain health, and the
automatic pauses past bounce and complaint thresholds."""
