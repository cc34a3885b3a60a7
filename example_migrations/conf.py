"""Example configuration: the migrations beside this file, on the SQLite database example.db.

The version history lives in example.db itself (tables link_migration_history and
link_migration_log), committed in the same transaction as each migration.
"""

DATABASE = "example.db"
