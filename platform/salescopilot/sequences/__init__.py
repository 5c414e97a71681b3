"""Sequences: ordered steps with delays, conditions, A/B variants and stop rules, versioned."""
