"""Leads: the people a tenant writes to, their lists, CSV import and export."""
