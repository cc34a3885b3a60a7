from __future__ import annotations


def test_up_runs_migrations_in_version_order(project):
    project.add_migration(10, name="a_ten.py")
    project.add_migration(2, name="z_two.py")
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 2", "up 10"]
    assert project.version() == "10"
