"""Add users.signed_up_on and backfill it."""

version = 2


def up(context):
    """Add the column, then give every existing user today's date."""
    context.execute("ALTER TABLE users ADD COLUMN signed_up_on TEXT")
    updated = context.execute(
        "UPDATE users SET signed_up_on = date('now') WHERE signed_up_on IS NULL"
    ).rowcount
    print(f"backfilled {updated} user(s)")


def down(context):
    """Rebuild users without the column (DROP COLUMN needs SQLite 3.35 or newer)."""
    context.execute_script("""
        CREATE TABLE users_old (id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, email TEXT NOT NULL);
        INSERT INTO users_old (id, full_name, email) SELECT id, full_name, email FROM users;
        DROP TABLE users;
        ALTER TABLE users_old RENAME TO users;
    """)
