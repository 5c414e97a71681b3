"""The suppression list: addresses and domains a tenant never sends to (unsubscribes, hard
bounces, complaints, manual entries, imports) and hashes of erased addresses."""
