"""Probes: one protocol per module, parsers separate from socket code."""
