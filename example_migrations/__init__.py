"""Example migrations for link-migration.

Installed as the package link_migration.example_migrations too, the MIGRATIONS_DIR of the
original README's conf.py. The migrations keep their data in example.db, a SQLite file in the
folder of whichever conf.py runs them (its MIGRATIONS_ABS_PATH).
"""
