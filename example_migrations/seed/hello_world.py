"""Say hello: the smallest migration there is."""

version = 1


def up():
    """Print a greeting; a migration's output is shown under its step."""
    print("Hello, world!")


def down():
    """Print a farewell."""
    print("Goodbye, world!")
