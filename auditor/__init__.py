"""camaudit: camera-fleet inventory auditor."""

__version__ = "0.1.0"
