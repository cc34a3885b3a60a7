"""SPEC 8 on PostgreSQL and MariaDB: .sql migrations in the peers' layouts, with what each
database writes in them (function bodies in $$, triggers with BEGIN ... END bodies, statements
that refuse to run in a transaction)."""
from __future__ import annotations

import textwrap

from checks import assert_error, ok


def _use(project, database) -> None:
    project.write_conf(database.connect_code)


def _write(project, name: str, text: str) -> None:
    (project.migrations / name).write_text(textwrap.dedent(text))


def _history(database) -> list[int]:
    return [int(v) for (v,) in database.query(
        "SELECT version FROM link_migration_history ORDER BY version")]


def _tables(database) -> list[str]:
    rows = database.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = "
        + ("current_schema()" if database.kind == "postgresql" else "DATABASE()"))
    return sorted(name for (name,) in rows if not name.startswith("link_migration_"))


def test_every_layout_up_and_down(project, database):
    _use(project, database)
    _write(project, "001_users.sql", """\
        -- migrate:up
        CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50));
        INSERT INTO users VALUES (1, 'semi;colon');
        -- migrate:down
        DROP TABLE users;
        """)
    _write(project, "002_audit.sql", """\
        -- +goose Up
        CREATE TABLE audit (name VARCHAR(50));
        -- +goose Down
        DROP TABLE audit;
        """)
    _write(project, "3_orders.up.sql", "CREATE TABLE orders (id INTEGER);\n")
    _write(project, "3_orders.down.sql", "DROP TABLE orders;\n")
    _write(project, "V4__items.sql", "CREATE TABLE items (id INTEGER);\n")
    _write(project, "U4__items.sql", "DROP TABLE items;\n")
    ok(project.run())
    assert _history(database) == [1, 2, 3, 4]
    assert _tables(database) == ["audit", "items", "orders", "users"]
    assert database.query("SELECT name FROM users") == [("semi;colon",)]
    ok(project.run("check"))
    status = project.run("status")
    assert status.out.count("applied") == 4 and "3_orders.up.sql" in status.out
    down = project.migrations / "3_orders.down.sql"
    down.write_text(down.read_text() + "-- edited\n")
    check = project.run("check")
    assert check.status == 1 and "modified: 3 3_orders.up.sql" in check.out
    ok(project.run("accept", "3"))
    ok(project.run("--to", "1"))
    assert _tables(database) == ["users"]
    ok(project.run("--to", "0"))
    assert _tables(database) == [] and _history(database) == []


def test_postgresql_function_bodies_triggers_and_a_concurrent_index(project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _write(project, "1_items.sql", """\
        -- migrate:up
        CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, touched INTEGER DEFAULT 0);
        CREATE FUNCTION touch() RETURNS trigger AS $$
        BEGIN
            NEW.touched := NEW.touched + 1;  -- a semicolon inside the body
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER items_touch BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION touch();
        INSERT INTO items (id, name) VALUES (1, 'a');
        -- migrate:down
        DROP TABLE items;
        DROP FUNCTION touch();
        """)
    _write(project, "2_index.sql", """\
        -- +goose NO TRANSACTION
        -- +goose Up
        CREATE INDEX CONCURRENTLY items_name ON items (name);
        -- +goose Down
        DROP INDEX CONCURRENTLY items_name;
        """)
    _write(project, "3_rename.sql", """\
        -- +goose Up
        -- +goose StatementBegin
        DO $body$
        BEGIN
            ALTER TABLE items RENAME COLUMN name TO label;
        END
        $body$;
        -- +goose StatementEnd
        -- +goose Down
        ALTER TABLE items RENAME COLUMN label TO name;
        """)
    ok(project.run())
    assert database.query("SELECT touched FROM items") == [(1,)]
    assert database.query("SELECT indexname FROM pg_indexes WHERE tablename = 'items' "
                          "AND indexname = 'items_name'") == [("items_name",)]
    assert database.query("SELECT column_name FROM information_schema.columns WHERE "
                          "table_name = 'items' AND column_name = 'label'") == [("label",)]
    ok(project.run("--to", "0"))
    assert _tables(database) == []


def test_postgresql_a_concurrent_index_inside_a_transaction_fails_and_says_how_to_mark_it(
        project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _write(project, "1_items.sql", "-- migrate:up\nCREATE TABLE items (name TEXT);\n")
    _write(project, "2_index.sql", "-- migrate:up\nCREATE INDEX CONCURRENTLY i ON items (name);\n")
    result = project.run()
    assert result.status == 1
    assert "2_index.sql" in result.err and "cannot run inside a transaction block" in result.err
    assert _history(database) == [1]


def test_a_failing_statement_rolls_back_a_postgresql_migration_whole(project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _write(project, "1_a.up.sql", "CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);\n"
                                  "INSERT INTO a VALUES ('not a number');\n")
    result = project.run()
    assert result.status == 1
    assert "in statement 3 (line 3) of" in result.err and "1_a.up.sql" in result.err
    assert _tables(database) == []


def test_mariadb_triggers_and_procedures_with_begin_end_bodies(project, mariadb_database):
    database = mariadb_database
    _use(project, database)
    _write(project, "1_items.sql", """\
        -- migrate:up
        CREATE TABLE items (id INTEGER PRIMARY KEY, touched INTEGER DEFAULT 0);
        CREATE TRIGGER items_touch BEFORE INSERT ON items FOR EACH ROW
        BEGIN
            IF NEW.touched IS NULL THEN SET NEW.touched = 0; END IF;
            SET NEW.touched = NEW.touched + 1;
        END;
        CREATE PROCEDURE add_item(IN item INTEGER)
        BEGIN
            INSERT INTO items (id) VALUES (item);
        END;
        CALL add_item(7);
        -- migrate:down
        DROP PROCEDURE add_item;
        DROP TABLE items;
        """)
    ok(project.run())
    assert database.query("SELECT id, touched FROM items") == [(7, 1)]
    ok(project.run("--down"))
    assert _tables(database) == []


def test_transaction_control_is_refused_on_a_server_too(project, database):
    _use(project, database)
    _write(project, "1_a.sql", "-- migrate:up\nCREATE TABLE a (x INTEGER);\nSTART TRANSACTION;\n")
    assert_error(project.run(), "1_a.sql, line 3", "START TRANSACTION")
    assert _tables(database) == []
