"""Campaigns: a sequence version run for leads from a mailbox pool on a schedule; the scheduler."""
