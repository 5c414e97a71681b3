"""Sender mailboxes: accounts, caps, warmup, windows, health and pools (DESIGN.md §4)."""
