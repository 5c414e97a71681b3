"""Outbound webhooks: signed deliveries of the tenant's events to its own endpoints."""
