"""Create the notes table in example.db."""
import os
import sqlite3
from contextlib import closing

version = 10


def up(context):
    """Create table notes (id, body)."""
    database = os.path.join(context.config.MIGRATIONS_ABS_PATH, "example.db")
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")


def down(context):
    """Drop table notes."""
    database = os.path.join(context.config.MIGRATIONS_ABS_PATH, "example.db")
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("DROP TABLE notes")
