"""Readers of migration files, one per layout: each gives discovery the same Migration, and
the loader something with up and down that the runner calls (SPEC 8)."""
