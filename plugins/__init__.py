"""Plugins bundled with Sales Copilot. Each registers through the `salescopilot.plugins` entry
point group exactly like a third-party plugin would (see README.md in this folder)."""
