"""Make users.email unique with an index."""

version = 4


def up(context):
    """Create a unique index on users.email."""
    context.execute("CREATE UNIQUE INDEX users_email ON users (email)")


def down(context):
    """Drop the index."""
    context.execute("DROP INDEX users_email")
