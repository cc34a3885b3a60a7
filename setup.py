"""Packaging for link-migration. No runtime dependency beyond the standard library."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "link_migration" / "__init__.py").read_text(), re.M
).group(1)

setup(
    name="link-migration",
    version=VERSION,
    description="A small, generic tool for schema and data migrations",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    # example_migrations/seed/ is installed as the package link_migration.example_migrations,
    # the MIGRATIONS_DIR of the original README's conf.py, so that conf.py runs unchanged.
    packages=find_packages(exclude=["tests*", "bench*", "example_migrations*"])
    + ["link_migration.example_migrations"],
    package_dir={"link_migration.example_migrations": "example_migrations/seed"},
    # What the test suite needs beyond pytest to run against real PostgreSQL and MariaDB
    # servers, through each DB-API driver the SQL store supports (pip install -e '.[test]').
    extras_require={"test": ["pytest", "psycopg[binary]", "pg8000", "PyMySQL", "mysql-connector-python"]},
    entry_points={
        "console_scripts": [
            "link-migration = link_migration.cli:main",
            "link_migration = link_migration.cli:main",
        ]
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: Database",
        "Environment :: Console",
    ],
)
