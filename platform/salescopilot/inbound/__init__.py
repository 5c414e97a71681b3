"""Inbound mail: stored messages with their classification, matching to what we sent, the
effects on leads, sequences, suppression and mailbox health, the sync, and the unified inbox."""
