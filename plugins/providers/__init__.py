"""Bundled mail providers: how a sending mailbox talks to its mail service."""
