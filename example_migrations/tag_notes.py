"""Add a tag column to notes and backfill it."""
import os
import sqlite3
from contextlib import closing

version = 30


def up(context):
    """Add notes.tag and tag every existing note 'seed'."""
    database = os.path.join(context.config.MIGRATIONS_ABS_PATH, "example.db")
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("ALTER TABLE notes ADD COLUMN tag TEXT")
        updated = connection.execute("UPDATE notes SET tag = 'seed' WHERE tag IS NULL").rowcount
    print(f"tagged {updated} note(s)")


def down(context):
    """Remove notes.tag by rebuilding the table (older SQLite has no DROP COLUMN)."""
    database = os.path.join(context.config.MIGRATIONS_ABS_PATH, "example.db")
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("CREATE TABLE notes_new (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        connection.execute("INSERT INTO notes_new (id, body) SELECT id, body FROM notes")
        connection.execute("DROP TABLE notes")
        connection.execute("ALTER TABLE notes_new RENAME TO notes")
