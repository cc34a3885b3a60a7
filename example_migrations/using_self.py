"""Using the self object."""
import os
import sqlite3
from contextlib import closing

version = 20


def up(self):
    """Write a note that quotes conf.py's ROOT_DIR, read through self.config."""
    print(f"ROOT_DIR is {self.config.ROOT_DIR}; this is version {self.version}")
    database = os.path.join(self.config.MIGRATIONS_ABS_PATH, "example.db")
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "INSERT INTO notes (body) VALUES (?)", (f"migrated by {self.config.ROOT_DIR}",)
        )


def down(self):
    """Delete that note again."""
    database = os.path.join(self.config.MIGRATIONS_ABS_PATH, "example.db")
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "DELETE FROM notes WHERE body = ?", (f"migrated by {self.config.ROOT_DIR}",)
        )
