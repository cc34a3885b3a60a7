"""The statement splitter: every construct of SPEC 8 in each flavour, and generated scripts."""
from __future__ import annotations

import random
import sqlite3
from typing import Callable, NamedTuple, Sequence

import pytest

from link_migration.sqlscript import FLAVOURS, Statement, split_statements, statements

ALL = FLAVOURS
POSTGRESQL_LIKE = ("postgresql", "generic")  # dollar quotes and E'' strings


def _split(script: str, flavour: str) -> list[Statement]:
    """statements(), checked for what must hold of any script: the pieces rejoin to it."""
    found = statements(script, flavour)
    if found:
        assert found[0].start == 0
        assert found[-1].end == len(script)
        for before, after in zip(found, found[1:]):
            assert before.end == after.start
        assert "".join(script[s.start : s.end] for s in found) == script
    assert [s.number for s in found] == list(range(1, len(found) + 1))
    for statement in found:
        assert statement.text in script[statement.start : statement.end]
    return found


def _texts(script: str, flavour: str) -> list[str]:
    return [statement.text for statement in _split(script, flavour)]


# --- table-driven cases ----------------------------------------------------------------------


class Case(NamedTuple):
    flavours: Sequence[str]
    script: str
    expected: list[str]


CASES = {
    "plain statements": Case(ALL, "SELECT 1; SELECT 2", ["SELECT 1", "SELECT 2"]),
    "blanks and empty statements only": Case(ALL, " ;; \n ;\t", []),
    "empty statements between": Case(ALL, ";SELECT 1;;\n; SELECT 2;;", ["SELECT 1", "SELECT 2"]),
    "single quotes, a doubled quote": Case(
        ALL, "INSERT INTO t VALUES ('a;b', 'it''s; x', ''); SELECT ';'",
        ["INSERT INTO t VALUES ('a;b', 'it''s; x', '')", "SELECT ';'"],
    ),
    "double quotes, a doubled quote": Case(
        ALL, 'CREATE TABLE "a;b" (x); SELECT "it""s;" FROM t',
        ['CREATE TABLE "a;b" (x)', 'SELECT "it""s;" FROM t'],
    ),
    "backquotes": Case(
        ALL, "SELECT `a;b`, `x``;y` FROM t; SELECT 2", ["SELECT `a;b`, `x``;y` FROM t", "SELECT 2"]
    ),
    "line comments stay inside, leading ones go": Case(
        ALL, "-- head; er\nSELECT 1 -- not; here\n; -- after; it\nSELECT 2 -- last",
        ["SELECT 1 -- not; here", "SELECT 2 -- last"],
    ),
    "block comments": Case(
        ALL, "/* lead; */ SELECT /* ; ' */ 1; /* a\n; b */ SELECT 2 /* end; */",
        ["SELECT /* ; ' */ 1", "SELECT 2 /* end; */"],
    ),
    "block comment with stars and slashes": Case(
        ALL, "SELECT 1 /*/ ; **/; SELECT 2 /***/; SELECT 3 /* * / ; */",
        ["SELECT 1 /*/ ; **/", "SELECT 2 /***/", "SELECT 3 /* * / ; */"],
    ),
    "comments only": Case(ALL, "-- only; a comment\n/* and; this */\n", []),
    "quotes inside comments and comments inside quotes": Case(
        ALL, "SELECT '--;' /* ' */; SELECT '/*'; SELECT 2 -- '\n",
        ["SELECT '--;' /* ' */", "SELECT '/*'", "SELECT 2 -- '"],
    ),
    "transaction control is its own statement": Case(
        ALL, "BEGIN; CREATE TABLE t (x); END; BEGIN TRANSACTION; COMMIT; begin;end",
        ["BEGIN", "CREATE TABLE t (x)", "END", "BEGIN TRANSACTION", "COMMIT", "begin", "end"],
    ),
    "CASE outside a routine": Case(
        ALL, "SELECT CASE WHEN x THEN 'a;' END; UPDATE t SET x = CASE y WHEN 1 THEN 2 END",
        ["SELECT CASE WHEN x THEN 'a;' END", "UPDATE t SET x = CASE y WHEN 1 THEN 2 END"],
    ),
    "words that look like keywords": Case(
        ALL, "CREATE TABLE trigger_log (begin_at INT, ending INT); SELECT 1",
        ["CREATE TABLE trigger_log (begin_at INT, ending INT)", "SELECT 1"],
    ),
    "unterminated quote runs to the end": Case(
        ALL, "SELECT 1; SELECT 'abc; SELECT 2;\n", ["SELECT 1", "SELECT 'abc; SELECT 2;"]
    ),
    "unterminated quote ending in a doubled quote": Case(
        ALL, "SELECT 1; SELECT 'a''; SELECT 2", ["SELECT 1", "SELECT 'a''; SELECT 2"]
    ),
    "unterminated comment is sent, not dropped": Case(
        ALL, "SELECT 1; /* abc; SELECT 2;", ["SELECT 1", "/* abc; SELECT 2;"]
    ),
    "unterminated comment inside a statement": Case(
        ALL, "SELECT 1 /* abc; SELECT 2;", ["SELECT 1 /* abc; SELECT 2;"]
    ),
    # --- backslashes: escapes in MySQL only
    "a backslash before a quote": Case(
        ("postgresql", "sqlite", "generic"), r"SELECT 'a\'b;c'; SELECT 2",
        [r"SELECT 'a\'b", r"c'; SELECT 2"],
    ),
    "a backslash before a quote, MySQL": Case(
        ("mysql",), r"SELECT 'a\'b;c', 'd\\'; SELECT 2", [r"SELECT 'a\'b;c', 'd\\'", "SELECT 2"]
    ),
    "a Windows path": Case(
        ("postgresql", "sqlite", "generic"), r"INSERT INTO t VALUES ('C:\'); SELECT 2",
        [r"INSERT INTO t VALUES ('C:\')", "SELECT 2"],
    ),
    "double quotes with a backslash, MySQL": Case(
        ("mysql",), r'SELECT "a\";b"; SELECT 2', [r'SELECT "a\";b"', "SELECT 2"]
    ),
    "a backquote ignores backslashes, MySQL": Case(
        ("mysql",), "SELECT `a\\`; SELECT 2", ["SELECT `a\\`", "SELECT 2"]
    ),
    # --- E'' strings
    "E'' strings": Case(
        ("postgresql", "generic", "mysql"), r"SELECT E'it\'s; here', e'\\'; SELECT 2",
        [r"SELECT E'it\'s; here', e'\\'", "SELECT 2"],
    ),
    "E'' strings are plain strings in SQLite": Case(
        ("sqlite",), r"SELECT E'it\'s; here'; SELECT 2", [r"SELECT E'it\'s", r"here'; SELECT 2"]
    ),
    "a name ending in E before a string": Case(
        ("postgresql", "generic"), r"SELECT 'a' FROM typE'\'; SELECT 2",
        [r"SELECT 'a' FROM typE'\'", "SELECT 2"],
    ),
    # --- dollar quotes
    "dollar quotes": Case(
        POSTGRESQL_LIKE, "SELECT $$a;b$$; SELECT $tag$ $$;$$ ' $tag$, $Tag$;$TAG$;$Tag$; SELECT 2",
        ["SELECT $$a;b$$", "SELECT $tag$ $$;$$ ' $tag$, $Tag$;$TAG$;$Tag$", "SELECT 2"],
    ),
    "parameters and identifiers with $ are not dollar quotes": Case(
        POSTGRESQL_LIKE, "SELECT $1, a$b$c FROM t WHERE x = $2; SELECT 1 AS a$$; SELECT 2 AS b$$",
        ["SELECT $1, a$b$c FROM t WHERE x = $2", "SELECT 1 AS a$$", "SELECT 2 AS b$$"],
    ),
    "a digit does not start a tag": Case(
        POSTGRESQL_LIKE, "SELECT $1$; SELECT $2$", ["SELECT $1$", "SELECT $2$"]
    ),
    "no dollar quotes in SQLite and MySQL": Case(
        ("sqlite", "mysql"), "SELECT $$a;b$$; SELECT 2", ["SELECT $$a", "b$$", "SELECT 2"]
    ),
    "unterminated dollar quote": Case(
        POSTGRESQL_LIKE, "SELECT 1; DO $x$ BEGIN; END $y$;", ["SELECT 1", "DO $x$ BEGIN; END $y$;"]
    ),
    # --- nested block comments: PostgreSQL only
    "nested comments": Case(
        ("postgresql",), "SELECT 1 /* a /* b; */ c; */; /* /* */ ; */ SELECT 2",
        ["SELECT 1 /* a /* b; */ c; */", "SELECT 2"],
    ),
    "comments do not nest elsewhere": Case(
        ("sqlite", "mysql", "generic"), "SELECT 1 /* a /* b; */ c; */; SELECT 2",
        ["SELECT 1 /* a /* b; */ c", "*/", "SELECT 2"],
    ),
    # --- MySQL's comments
    "# comments": Case(
        ("mysql",), "# head; er\nSELECT 1 # not; here\n; SELECT 2", ["SELECT 1 # not; here", "SELECT 2"]
    ),
    "# is an operator elsewhere": Case(
        ("postgresql", "sqlite", "generic"), "SELECT 1 # 2; SELECT 3", ["SELECT 1 # 2", "SELECT 3"]
    ),
    "-- needs a blank after it in MySQL": Case(
        ("mysql",), "SELECT 1--1; SELECT 2 --\tx;\n; SELECT 3 --", ["SELECT 1--1", "SELECT 2 --\tx;", "SELECT 3 --"]
    ),
    "-- needs nothing after it elsewhere": Case(
        ("postgresql", "sqlite", "generic"), "SELECT 1--1; x\n; SELECT 2", ["SELECT 1--1; x", "SELECT 2"]
    ),
    "executable comments run in MySQL": Case(
        ("mysql",), "/*!40101 SET NAMES utf8 */;\n/*M!100100 SET x = 1 */;\n/* plain; */ SELECT /*+ hint */ 1;",
        ["/*!40101 SET NAMES utf8 */", "/*M!100100 SET x = 1 */", "SELECT /*+ hint */ 1"],
    ),
    "executable comments are comments elsewhere": Case(
        ("postgresql", "sqlite", "generic"), "/*!40101 SET NAMES utf8 */;\n/* plain; */ SELECT 1;",
        ["SELECT 1"],
    ),
    # --- [bracketed identifiers]
    "brackets": Case(
        ("sqlite", "generic"), "SELECT [a;b], [it's] FROM t; SELECT 2", ["SELECT [a;b], [it's] FROM t", "SELECT 2"]
    ),
    "brackets are subscripts in PostgreSQL": Case(
        ("postgresql",), "SELECT a[1], '[' FROM t; SELECT [;]", ["SELECT a[1], '[' FROM t", "SELECT [", "]"]
    ),
    # --- trigger and routine bodies
    "SQLite trigger with CASE in its body": Case(
        ALL,
        """\
CREATE TRIGGER log_price AFTER UPDATE OF price ON items
WHEN CASE WHEN new.price IS NULL THEN 0 ELSE 1 END
BEGIN
    INSERT INTO price_log (item, change)
    VALUES (new.id, CASE WHEN new.price > old.price THEN 'up; more' ELSE 'down' END);
    UPDATE items SET touched = CASE new.price WHEN 0 THEN NULL ELSE 1 END WHERE id = new.id;
    SELECT RAISE(ABORT, 'no; way') WHERE new.price < 0;
END;
INSERT INTO items VALUES (1, 2);
""",
        [
            """\
CREATE TRIGGER log_price AFTER UPDATE OF price ON items
WHEN CASE WHEN new.price IS NULL THEN 0 ELSE 1 END
BEGIN
    INSERT INTO price_log (item, change)
    VALUES (new.id, CASE WHEN new.price > old.price THEN 'up; more' ELSE 'down' END);
    UPDATE items SET touched = CASE new.price WHEN 0 THEN NULL ELSE 1 END WHERE id = new.id;
    SELECT RAISE(ABORT, 'no; way') WHERE new.price < 0;
END""",
            "INSERT INTO items VALUES (1, 2)",
        ],
    ),
    "temporary trigger, lower case": Case(
        ALL, "create temp trigger if not exists t after insert on x begin select 1; end; select 2",
        ["create temp trigger if not exists t after insert on x begin select 1; end", "select 2"],
    ),
    "a column called end": Case(
        ALL, "CREATE TRIGGER t AFTER INSERT ON x BEGIN UPDATE y SET a = new.end; SELECT 1; END; SELECT 2",
        ["CREATE TRIGGER t AFTER INSERT ON x BEGIN UPDATE y SET a = new.end; SELECT 1; END", "SELECT 2"],
    ),
    "PostgreSQL trigger without a body": Case(
        ALL, "CREATE TRIGGER touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch(); SELECT 1",
        ["CREATE TRIGGER touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch()", "SELECT 1"],
    ),
    "PostgreSQL function in dollar quotes": Case(
        POSTGRESQL_LIKE,
        """\
CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$
DECLARE
    note text := 'touched; ok';  -- a comment; with a quote '
BEGIN
    NEW.updated_at := now();
    IF NEW.id IS NULL THEN
        RAISE EXCEPTION 'no id; %', NEW;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER touch BEFORE UPDATE ON items
    FOR EACH ROW EXECUTE FUNCTION touch();
""",
        [
            """\
CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$
DECLARE
    note text := 'touched; ok';  -- a comment; with a quote '
BEGIN
    NEW.updated_at := now();
    IF NEW.id IS NULL THEN
        RAISE EXCEPTION 'no id; %', NEW;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql""",
            "CREATE TRIGGER touch BEFORE UPDATE ON items\n    FOR EACH ROW EXECUTE FUNCTION touch()",
        ],
    ),
    "PostgreSQL DO block": Case(
        POSTGRESQL_LIKE,
        """\
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app') THEN
        EXECUTE $sql$CREATE ROLE app$sql$;
    END IF;
END
$do$;
BEGIN;
SELECT 1;
""",
        [
            "DO $do$\nBEGIN\n    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app') THEN\n"
            "        EXECUTE $sql$CREATE ROLE app$sql$;\n    END IF;\nEND\n$do$",
            "BEGIN",
            "SELECT 1",
        ],
    ),
    "PostgreSQL function in single quotes": Case(
        ALL, "CREATE FUNCTION f() RETURNS int AS 'SELECT 1; SELECT 2' LANGUAGE sql; SELECT f()",
        ["CREATE FUNCTION f() RETURNS int AS 'SELECT 1; SELECT 2' LANGUAGE sql", "SELECT f()"],
    ),
    "PostgreSQL BEGIN ATOMIC": Case(
        ALL,
        "CREATE FUNCTION one() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
        "SELECT CASE WHEN true THEN 1 END; END; SELECT one()",
        ["CREATE FUNCTION one() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
         "SELECT CASE WHEN true THEN 1 END; END", "SELECT one()"],
    ),
    "PostgreSQL function returning CASE": Case(
        ALL, "CREATE FUNCTION s(int) RETURNS int LANGUAGE sql RETURN CASE WHEN $1 > 0 THEN 1 END; SELECT 2",
        ["CREATE FUNCTION s(int) RETURNS int LANGUAGE sql RETURN CASE WHEN $1 > 0 THEN 1 END", "SELECT 2"],
    ),
    "PostgreSQL rule with several actions": Case(
        ALL, "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 1",
        ["CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))", "SELECT 1"],
    ),
    "MySQL procedure": Case(
        ("mysql",),
        """\
CREATE DEFINER=`admin`@`%` PROCEDURE fill(IN n INT)
BEGIN
    DECLARE i INT DEFAULT 0;
    DECLARE CONTINUE HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
    END;
    DROP TEMPORARY TABLE IF EXISTS scratch;
    WHILE i < n DO
        IF i % 2 = 0 THEN
            INSERT INTO t VALUES (i, 'even; \\'yes\\'');  # a comment; here
        ELSEIF i % 3 = 0 THEN
            INSERT INTO t VALUES (i, IF(i > 3, 'big', 'small'));
        ELSE
            INSERT INTO t VALUES (i, REPEAT('x', i));
        END IF;
        SET i = i + 1;
    END WHILE;
    CASE n
        WHEN 0 THEN SELECT 'none';
        ELSE BEGIN SELECT CASE WHEN n > 9 THEN 'many' END; END;
    END CASE;
    lbl: LOOP
        LEAVE lbl;
    END LOOP lbl;
    REPEAT SET i = i - 1; UNTIL i <= 0 END REPEAT;
END;
CALL fill(10);
""",
        None,  # filled in below: the procedure, then the CALL
    ),
    "MySQL function without BEGIN": Case(
        ("mysql",), "CREATE FUNCTION inc(x INT) RETURNS INT DETERMINISTIC RETURN x + 1; SELECT inc(1)",
        ["CREATE FUNCTION inc(x INT) RETURNS INT DETERMINISTIC RETURN x + 1", "SELECT inc(1)"],
    ),
    "MySQL trigger with and without BEGIN": Case(
        ("mysql",),
        "CREATE TRIGGER a BEFORE INSERT ON x FOR EACH ROW SET NEW.a = 1;\n"
        "CREATE DEFINER = CURRENT_USER TRIGGER b BEFORE INSERT ON x FOR EACH ROW BEGIN\n"
        "  IF NEW.a IS NULL THEN SET NEW.a = 2; END IF;\nEND;\n",
        ["CREATE TRIGGER a BEFORE INSERT ON x FOR EACH ROW SET NEW.a = 1",
         "CREATE DEFINER = CURRENT_USER TRIGGER b BEFORE INSERT ON x FOR EACH ROW BEGIN\n"
         "  IF NEW.a IS NULL THEN SET NEW.a = 2; END IF;\nEND"],
    ),
    "MySQL event": Case(
        ("mysql",), "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM t; DELETE FROM u; END; SELECT 1",
        ["CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM t; DELETE FROM u; END", "SELECT 1"],
    ),
    "MariaDB FOR loop": Case(
        ("mysql",), "CREATE OR REPLACE PROCEDURE p() BEGIN FOR i IN 1..3 DO SELECT i; END FOR; END; CALL p()",
        ["CREATE OR REPLACE PROCEDURE p() BEGIN FOR i IN 1..3 DO SELECT i; END FOR; END", "CALL p()"],
    ),
    "a stray END does not swallow the script": Case(
        ALL, "CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; END END; SELECT 2",
        ["CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; END END", "SELECT 2"],
    ),
}
_PROCEDURE = CASES["MySQL procedure"].script
CASES["MySQL procedure"] = CASES["MySQL procedure"]._replace(
    expected=[_PROCEDURE[: _PROCEDURE.index("END;\nCALL") + 3], "CALL fill(10)"]
)


@pytest.mark.parametrize(
    ("flavour", "case"),
    [
        pytest.param(flavour, case, id=f"{name} [{flavour}]")
        for name, case in CASES.items()
        for flavour in case.flavours
    ],
)
def test_splits(flavour: str, case: Case) -> None:
    assert _texts(case.script, flavour) == case.expected


def test_every_flavour_is_covered_by_its_own_cases() -> None:
    for flavour in FLAVOURS:
        own = [case for case in CASES.values() if flavour in case.flavours and len(case.flavours) < len(ALL)]
        assert len(own) >= 5, flavour


# Cases whose statements are deliberately broken, so SQLite would not call them complete.
_BROKEN = {
    "unterminated quote runs to the end",
    "unterminated quote ending in a doubled quote",
    "unterminated comment is sent, not dropped",
    "unterminated comment inside a statement",
    "a backslash before a quote",
    "E'' strings are plain strings in SQLite",
    "a stray END does not swallow the script",
}


def test_the_sqlite_cases_are_what_sqlite_itself_calls_complete() -> None:
    """SQLite's own tokenizer (sqlite3_complete) agrees with each SQLite case."""
    assert _BROKEN <= set(CASES)
    for name, case in CASES.items():
        # Other databases' routines are no SQLite: its tokenizer ends any CREATE TRIGGER at END;
        # and nothing else at a BEGIN.
        if "sqlite" in case.flavours and name not in _BROKEN and not name.startswith("PostgreSQL"):
            for text in case.expected:
                _assert_one_sqlite_statement(text)


def _assert_one_sqlite_statement(text: str) -> None:
    """``text`` and a semicolon is complete for SQLite, and no shorter piece of it is."""
    assert sqlite3.complete_statement(text + "\n;"), text  # a new line ends a -- comment
    for index, char in enumerate(text):
        if char == ";":
            assert not sqlite3.complete_statement(text[: index + 1]), (text, index)


def test_line_numbers_and_pieces() -> None:
    script = (
        "-- 0007: users\n"  # line 1
        "\n"
        "CREATE TABLE users (\n"  # line 3
        "    id INTEGER  -- the key; really\n"
        ");\n"
        "/* a comment\n"  # line 6
        "   over lines; */ ; ;\n"
        "\n"
        "  INSERT INTO users VALUES ('a\n"  # line 9
        "b');  SELECT 1; -- trailing\n"  # line 10: SELECT 1
        "SELECT 2"  # line 11, no semicolon
        "\n-- the end\n"
    )
    found = _split(script, "generic")
    assert [(s.number, s.line, s.text) for s in found] == [
        (1, 3, "CREATE TABLE users (\n    id INTEGER  -- the key; really\n)"),
        (2, 9, "INSERT INTO users VALUES ('a\nb')"),
        (3, 10, "SELECT 1"),
        # Without a semicolon, what follows is part of the statement: comments inside a
        # statement are kept (MySQL's /*! ... */ and optimizer hints are comments that run).
        (4, 11, "SELECT 2\n-- the end"),
    ]
    # Each piece runs from the previous piece's end through its own semicolon; blanks,
    # comments and empty statements before a statement are in its piece, and what follows the
    # last statement is in the last piece.
    assert script[found[0].start : found[0].end] == script[: script.index(");") + 2]
    assert script[found[1].start : found[1].end].startswith("\n/* a comment")
    assert script[found[1].start : found[1].end].endswith("b');")
    assert script[found[2].start : found[2].end] == "  SELECT 1;"
    assert script[found[3].start : found[3].end] == " -- trailing\nSELECT 2\n-- the end\n"


def test_windows_line_ends() -> None:
    found = _split("SELECT 1;\r\n\r\nSELECT 2;\r\n", "sqlite")
    assert [(s.line, s.text) for s in found] == [(1, "SELECT 1"), (3, "SELECT 2")]


def test_nothing_to_run() -> None:
    assert statements("") == []
    assert statements("  -- nothing\n;", "mysql") == []
    assert split_statements("") == []


def test_split_statements_keeps_its_old_signature() -> None:
    script = "CREATE TABLE t (v TEXT);  -- a comment; with a semicolon\nINSERT INTO t VALUES ('a;b');"
    assert split_statements(script) == ["CREATE TABLE t (v TEXT)", "INSERT INTO t VALUES ('a;b')"]
    assert split_statements("SELECT $$;$$", "sqlite") == ["SELECT $$", "$$"]


def test_an_unknown_flavour_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown SQL flavour 'oracle': expected one of sqlite, postgresql"):
        statements("SELECT 1", "oracle")


def test_long_scripts_split_in_linear_time() -> None:
    """Twice the script must not take much more than twice the time (a quadratic splitter
    takes four times): measured on scripts big enough to dwarf the timer's noise."""
    import time

    unit = CASES["SQLite trigger with CASE in its body"].script + "INSERT INTO t VALUES ('x;y'); -- c\n"

    def seconds(copies: int) -> float:
        script = unit * copies
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            assert len(statements(script, "generic")) == 3 * copies
            best = min(best, time.perf_counter() - started)
        return best

    small, large = seconds(300), seconds(1200)
    assert large < 4 * small * 2  # 4 times the work; a quadratic splitter would take 16 times


# --- generated scripts -----------------------------------------------------------------------

_WORDS = ["x", "t", "users", "a$b", "x$$", "$1", "12", "3.5", "begin_at", "end_date", "case_no", "ending"]
_SYMBOLS = ["+", "-", "*", "/", "=", ",", "<>", "||", ".", ":"]
_TEXT = [";", ";", "'", '"', "`", "--", "/*", "*/", "$$", "$x$", "\n", " ", "a", "\\", "#", "[", "]",
         "BEGIN", "END", "CASE", "%", "é"]


class _Generator:
    """Random complete statements of one flavour, and scripts made of them.

    Everything is built so that each statement's text is known: fragments are separated by
    blanks (so that no two of them run into a token neither meant), and a statement never
    starts with a comment or ends with a blank or a line comment.
    """

    def __init__(self, flavour: str, seed: int) -> None:
        self.flavour = flavour
        self.random = random.Random(seed)
        self.mysql = flavour == "mysql"
        self.postgresql_like = flavour in POSTGRESQL_LIKE

    def _text(self, most: int = 6) -> str:
        return "".join(self.random.choice(_TEXT) for _ in range(self.random.randint(0, most)))

    def _case(self, word: str) -> str:
        return self.random.choice([word.upper(), word.lower(), word.capitalize()])

    def _blank(self) -> str:
        return self.random.choice([" ", " ", "\n", "\t", "  \n  "])

    # quotes ------------------------------------------------------------------------------

    def _single(self) -> str:
        inside = self._text()
        if self.mysql:
            inside = inside.replace("\\", "\\\\").replace("'", self.random.choice(["''", "\\'"]))
        else:
            inside = inside.replace("'", "''")
        return f"'{inside}'"

    def _double(self) -> str:
        inside = self._text()
        if self.mysql:
            inside = inside.replace("\\", "\\\\").replace('"', self.random.choice(['""', '\\"']))
        else:
            inside = inside.replace('"', '""')
        return f'"{inside}"'

    def _backquoted(self) -> str:
        return "`" + self._text().replace("`", "``") + "`"

    def _bracketed(self) -> str:
        return "[" + self._text().replace("]", "") + "]"

    def _escape_string(self) -> str:
        inside = self._text().replace("\\", "\\\\").replace("'", self.random.choice(["''", "\\'"]))
        return self.random.choice("Ee") + f"'{inside}'"

    def _dollar(self, inside: str | None = None) -> str:
        tag = "$" + self.random.choice(["", "x", "body", "_1", "Tag"]) + "$"
        inside = self._text() if inside is None else inside
        while tag in inside:  # a dollar quote holds anything but its own delimiter
            inside = inside.replace(tag, "")
        while (inside + tag).find(tag) < len(inside):  # "a$" + "$$" closes one character early
            inside = inside[:-1]
        return f"{tag}{inside}{tag}"

    # comments ----------------------------------------------------------------------------

    def _comment_text(self) -> str:
        return self._text().replace("\n", " ").replace("*", "").replace("/", "")

    def _line_comment(self) -> str:
        opener = self.random.choice(["-- ", "#"]) if self.mysql else self.random.choice(["--", "-- "])
        return opener + self._comment_text() + "\n"

    def _block_comment(self) -> str:
        inside = self._comment_text()
        if self.flavour == "postgresql" and self.random.random() < 0.5:
            inside += "/* " + self._comment_text() + " */" + self._comment_text()
        return "/*" + inside + "*/"

    def _comment(self) -> str:
        return self._line_comment() if self.random.random() < 0.5 else self._block_comment()

    # statements --------------------------------------------------------------------------

    def _fragment(self, inside_block: bool) -> str:
        choices: list[Callable[[], str]] = [
            lambda: self._case(self.random.choice(_WORDS)),
            lambda: self.random.choice(_SYMBOLS),
            self._single,
            self._double,
            self._backquoted,
            self._block_comment,
            lambda: self._line_comment().rstrip("\n") + "\n" + self._case("x"),
            lambda: "(" + self._fragments(inside_block, 2) + ")",
            lambda: self._case("CASE WHEN") + " " + self._fragments(inside_block, 2) + " "
            + self._case("THEN") + " " + self._single() + " " + self._case("END"),
        ]
        if not inside_block:  # words that only count inside a trigger or routine
            choices.append(lambda: self._case(self.random.choice(["BEGIN", "END", "CASE", "IF", "(", ")"])))
        if self.flavour in ("sqlite", "generic"):
            choices.append(self._bracketed)
        if self.postgresql_like:
            choices += [self._escape_string, self._dollar]
        if self.mysql:
            choices.append(lambda: "1--1")
        return self.random.choice(choices)()

    def _fragments(self, inside_block: bool, most: int = 5) -> str:
        parts = [self._fragment(inside_block) for _ in range(self.random.randint(1, most))]
        # In a body, CASE ... END followed by CASE ... END would read as END CASE.
        return ", ".join(parts) if inside_block else " ".join(parts)

    def _simple(self, inside_block: bool = False) -> str:
        head = self.random.choice(["SELECT", "INSERT INTO t VALUES", "UPDATE t SET x =", "DELETE FROM t WHERE"])
        return self._case(head) + self._blank() + self._fragments(inside_block)

    def _body(self, most: int = 3) -> str:
        """Statements each ending in a semicolon, for a BEGIN ... END body."""
        return "".join(
            self._simple(inside_block=True) + ";" + self._blank() for _ in range(self.random.randint(1, most))
        )

    def _sqlite_trigger(self) -> str:
        head = self._case(self.random.choice(["CREATE TRIGGER", "CREATE TEMP TRIGGER IF NOT EXISTS"]))
        when = self.random.choice(["", " WHEN " + self._fragments(True, 2)])
        return f"{head} tr AFTER INSERT ON t{when} {self._case('BEGIN')} {self._body()}{self._case('END')}"

    def _mysql_compound(self, depth: int) -> str:
        """One statement of a MySQL routine, perhaps a compound one holding others."""
        if depth > 2 or self.random.random() < 0.4:
            return self.random.choice([
                lambda: self._simple(inside_block=True),
                lambda: "SET x = IF(a, " + self._single() + ", REPEAT('c;', 2))",
                lambda: "DROP TABLE IF EXISTS t",
            ])()
        inner = "".join(self._mysql_compound(depth + 1) + ";" + self._blank() for _ in range(self.random.randint(1, 3)))
        case = self._case
        return self.random.choice([
            lambda: f"{case('BEGIN')} {inner}{case('END')}",
            lambda: f"lbl: {case('BEGIN')} {inner}{case('END')} lbl",
            lambda: f"{case('IF')} x {case('THEN')} {inner}{case('ELSE')} {inner}{case('END IF')}",
            lambda: f"{case('WHILE')} x {case('DO')} {inner}{case('END WHILE')}",
            lambda: f"{case('REPEAT')} {inner}{case('UNTIL')} x {case('END REPEAT')}",
            lambda: f"l: {case('LOOP')} {inner}{case('END LOOP')} l",
            lambda: f"{case('CASE')} x {case('WHEN')} 1 {case('THEN')} {inner}{case('END CASE')}",
        ])()

    def _mysql_routine(self) -> str:
        head = self.random.choice([
            "CREATE PROCEDURE p(IN case_id INT)",
            "CREATE DEFINER=`root`@`localhost` PROCEDURE p()",
            "CREATE FUNCTION f() RETURNS INT DETERMINISTIC",
            "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW",
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO",
        ])
        body = "".join(self._mysql_compound(1) + ";" + self._blank() for _ in range(self.random.randint(1, 3)))
        return f"{head} {self._case('BEGIN')} {body}{self._case('END')}"

    def _postgresql_routine(self) -> str:
        plpgsql = f"BEGIN {self._body()}IF x THEN {self._body(1)}END IF; END;"
        return self.random.choice([
            lambda: f"CREATE FUNCTION f() RETURNS trigger AS {self._dollar(plpgsql)} LANGUAGE plpgsql",
            lambda: f"DO {self._dollar(plpgsql)}",
            lambda: f"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC {self._body()}END",
            lambda: f"CREATE RULE r AS ON INSERT TO t DO ALSO ({self._simple(True)}; {self._simple(True)})",
        ])()

    def statement(self) -> str:
        kinds: list[Callable[[], str]] = [
            self._simple,
            self._simple,
            self._simple,
            lambda: self._case(self.random.choice(["BEGIN", "BEGIN TRANSACTION", "END", "COMMIT"])),
        ]
        if self.flavour != "mysql":  # a trigger with a SQLite body would be a syntax error there
            kinds.append(self._sqlite_trigger)
        if self.mysql:
            kinds.append(self._mysql_routine)
        if self.postgresql_like:
            kinds.append(self._postgresql_routine)
        return self.random.choice(kinds)()

    def _between(self) -> str:
        """Blanks, comments and empty statements between two statements."""
        parts = []
        for _ in range(self.random.randint(0, 3)):
            parts.append(self.random.choice([self._blank(), self._comment(), ";"]))
        return "".join(parts)

    def script(self) -> tuple[str, list[tuple[str, int]]]:
        """A script and its statements with their offsets in it."""
        pieces = [self._between()]
        offset = len(pieces[0])
        expected = []
        count = self.random.randint(1, 6)
        for index in range(count):
            text = self.statement()
            expected.append((text, offset))
            if index == count - 1 and self.random.random() < 0.3:
                tail = self._blank()  # no semicolon: a comment would join the statement
            else:
                tail = ";" + self._between()
            pieces += [text, tail]
            offset += len(text) + len(tail)
        return "".join(pieces), expected


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_generated_scripts_split_into_the_statements_they_were_made_of(flavour: str) -> None:
    for seed in range(700):
        generator = _Generator(flavour, seed)
        script, expected = generator.script()
        found = _split(script, flavour)  # (1) the pieces rejoin to the script
        context = f"seed {seed}: {script!r}"
        assert [s.text for s in found] == [text for text, _ in expected], context  # (2)
        lines = [script.count("\n", 0, offset) + 1 for _, offset in expected]
        assert [s.line for s in found] == lines, context  # (3)
        if flavour == "sqlite":  # SQLite's own tokenizer vouches for the generator
            for text, _ in expected:
                _assert_one_sqlite_statement(text)
