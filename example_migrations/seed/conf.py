"""Seed-style configuration, as in the original README.

The current version lives in current_version.txt beside this file, read and written by the
two functions below; link-migration calls them, and nothing else, to know where it stands.
"""
import os

ROOT_DIR = 'link_migration.example_migrations'
MIGRATIONS_ABS_PATH = os.path.abspath(os.path.dirname(__file__))
# No MIGRATIONS_DIR: the migrations are the .py files beside this conf.py.


def get_current_version():
    path = os.path.join(MIGRATIONS_ABS_PATH, "current_version.txt")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(f.read())


def set_current_version(version):
    path = os.path.join(MIGRATIONS_ABS_PATH, "current_version.txt")
    with open(path, "w") as f:
        f.write(f'{version}')
