"""Emulated device services for the lab: one module per protocol, pure request->reply
handlers plus the socket plumbing in ``server`` that ``auditor.lab.emulator`` drives."""
