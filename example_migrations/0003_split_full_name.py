"""Split users.full_name into first_name and last_name: a reversible data migration."""

version = 3


def up(context):
    """Move each full name into two columns, then drop full_name."""
    context.execute_script("""
        CREATE TABLE users_new (
            id INTEGER PRIMARY KEY,
            first_name TEXT NOT NULL,
            last_name TEXT NOT NULL,
            email TEXT NOT NULL,
            signed_up_on TEXT
        );
    """)
    rows = context.execute("SELECT id, full_name, email, signed_up_on FROM users").fetchall()
    for user_id, full_name, email, signed_up_on in rows:
        first, _, last = full_name.partition(" ")
        context.execute(
            "INSERT INTO users_new VALUES (?, ?, ?, ?, ?)",
            (user_id, first, last, email, signed_up_on),
        )
    context.execute_script("DROP TABLE users; ALTER TABLE users_new RENAME TO users;")
    print(f"split {len(rows)} name(s)")


def down(context):
    """Join first_name and last_name back into full_name."""
    context.execute_script("""
        CREATE TABLE users_old (
            id INTEGER PRIMARY KEY,
            full_name TEXT NOT NULL,
            email TEXT NOT NULL,
            signed_up_on TEXT
        );
        INSERT INTO users_old (id, full_name, email, signed_up_on)
            SELECT id, trim(first_name || ' ' || last_name), email, signed_up_on FROM users;
        DROP TABLE users;
        ALTER TABLE users_old RENAME TO users;
    """)
