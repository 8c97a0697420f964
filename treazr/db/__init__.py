"""The generic SQLite layer: one writer thread, concurrent readers, named migrations.

It knows nothing about games, users or sessions; the schema lives with each subsystem
(``treazr/*/schema.py``) and ``treazr.composition`` lists the migration sets in order.
"""

from treazr.db.database import Database, Row

__all__ = ["Database", "Row"]
