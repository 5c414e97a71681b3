"""The send ledger: one row per message, claimed under a lease, sent exactly once (DESIGN.md §4)."""
