"""The original README's example migrations, installed as link_migration.example_migrations.

That package name is the MIGRATIONS_DIR of the original README's conf.py, so that conf.py runs
these unchanged. They only print: they show the order, the output and the ``self`` object.
"""
