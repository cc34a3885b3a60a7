"""Create the users table with a few people in it."""

version = 1


def up(context):
    """Create users (id, full_name, email) and insert three rows."""
    context.execute_script("""
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            full_name TEXT NOT NULL,
            email TEXT NOT NULL
        );
        INSERT INTO users (full_name, email) VALUES
            ('Ada Lovelace', 'ada@example.org'),
            ('Alan Turing', 'alan@example.org'),
            ('Grace Hopper', 'grace@example.org');
    """)


def down(context):
    """Drop users."""
    context.execute("DROP TABLE users")
