"""The SQLite inventory store: schema and migrations, the writer lock, and ``Store``."""

from .core import OBSERVATION_BATCH, Store
from .schema import SCHEMA_VERSION

__all__ = ["OBSERVATION_BATCH", "SCHEMA_VERSION", "Store"]
