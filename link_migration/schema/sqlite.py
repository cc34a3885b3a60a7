"""A SQLite database's schema, from sqlite_master and the table pragmas.

SQLite keeps each object's CREATE statement as written. Tables are described from the
pragmas (columns, keys, unique constraints), so that a table rebuilt with other spacing or
quoting compares equal; CHECK constraints, views and triggers exist only as text, which is
compared with comments and spacing normalised.
"""
from __future__ import annotations

import re

from . import SchemaObject, identifier, normalised, single

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Callable, Collection, Sequence

    Query = Callable[[str, Sequence[Any]], "list[Any]"]


def read(query: Query, exclude: Collection[str], cache: dict[Any, SchemaObject] | None = None
         ) -> list[SchemaObject]:
    """Every object but SQLite's own and the tables named in ``exclude`` (with their indexes
    and triggers). ``cache`` keeps objects between calls, keyed by their CREATE text: a
    table's pragmas say nothing its text does not decide, so only changed objects are read."""
    cache = {} if cache is None else cache
    own = ", ".join("'" + name.lower().replace("'", "''") + "'" for name in exclude) or "''"
    objects = []
    rows = query("SELECT type, name, tbl_name, sql FROM sqlite_master "
                 "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                 f"AND lower(tbl_name) NOT IN ({own})", ())
    tables = {name: sql for kind, name, _, sql in rows if kind == "table"}
    for row in rows:
        # An object is a function of its CREATE text, and an index's of its table's too
        # (its columns' collations): that is the cache's key.
        key = row if row[0] != "index" else (*row, tables.get(row[2]))
        obj = cache.get(key)
        if obj is None:
            obj = cache[key] = _read_object(query, *row)
        objects.append(obj)
    return objects


def _read_object(query: Query, kind: str, name: str, table: str, sql: str) -> SchemaObject:
    if kind == "table":
        if re.match(r"\s*CREATE\s+VIRTUAL\b", sql, re.IGNORECASE):
            return single("virtual table", identifier(name), normalised(sql))
        return _table(query, name, sql)
    if kind == "index":
        return single("index", identifier(name), _index(query, name, table, sql))
    return single(kind, identifier(name), normalised(sql))


def _table(query: Query, name: str, sql: str) -> SchemaObject:
    parts: list[tuple[str, str]] = []
    key: list[tuple[int, str]] = []
    for _, column, type_, notnull, default, pk, hidden in query(
            "SELECT * FROM pragma_table_xinfo({})", (name,)):
        text = identifier(column) + (f" {type_}" if type_ else "")
        if hidden in (2, 3):
            text += " GENERATED ALWAYS " + ("STORED" if hidden == 3 else "VIRTUAL")
        if notnull:
            text += " NOT NULL"
        if default is not None:
            text += f" DEFAULT {default}"
        parts.append((f"column {column}", text))
        if pk:
            key.append((pk, identifier(column)))
    if key:
        columns = ", ".join(column for _, column in sorted(key))
        increment = " AUTOINCREMENT" if re.search(r"\bAUTOINCREMENT\b", sql, re.IGNORECASE) else ""
        parts.append(("primary key", f"PRIMARY KEY ({columns}){increment}"))
    for columns in _unique_constraints(query, name):
        parts.append((f"unique ({columns})", f"UNIQUE ({columns})"))
    foreign: dict[int, list[Any]] = {}
    for row in query("SELECT * FROM pragma_foreign_key_list({})", (name,)):
        foreign.setdefault(row[0], []).append(row)
    for rows in foreign.values():
        rows.sort(key=lambda row: row[1])
        columns = ", ".join(identifier(row[3]) for row in rows)
        targets = ", ".join(identifier(row[4]) for row in rows if row[4] is not None)
        text = f"FOREIGN KEY ({columns}) REFERENCES {identifier(rows[0][2])}"
        text += f" ({targets})" if targets else ""
        for action, value in (("ON UPDATE", rows[0][5]), ("ON DELETE", rows[0][6])):
            if value and value.upper() != "NO ACTION":
                text += f" {action} {value}"
        parts.append((f"foreign key ({columns})", text))
    for label, check in _checks(sql):
        parts.append((label, check))
    options = _options(sql)
    if options:
        parts.append(("options", options))
    return SchemaObject("table", identifier(name), tuple(parts),
                        '"' + name.replace('"', '""') + '"')


def _unique_constraints(query: Query, table: str) -> list[str]:
    """The column lists of the table's UNIQUE constraints (SQLite indexes each one)."""
    return sorted(
        ", ".join(identifier(row[2]) for row in sorted(
            query("SELECT * FROM pragma_index_info({})", (index,))))
        for _, index, _, origin, _ in query("SELECT * FROM pragma_index_list({})", (table,))
        if origin == "u"
    )


def _index(query: Query, name: str, table: str, sql: str) -> str:
    """A plain index as one canonical line; one on expressions or with a WHERE as written."""
    listed = [row for row in query("SELECT * FROM pragma_index_list({})", (table,))
              if row[1] == name]
    keys = [row for row in query("SELECT * FROM pragma_index_xinfo({})", (name,)) if row[5]]
    if not listed or listed[0][4] or any(row[1] == -2 for row in keys):
        return normalised(sql)
    columns = []
    for _, _, column, descending, collation, _ in sorted(keys):
        text = identifier(column)
        if collation and collation.upper() != "BINARY":
            text += f" COLLATE {collation}"
        columns.append(text + (" DESC" if descending else ""))
    unique = "UNIQUE " if listed[0][2] else ""
    return f"CREATE {unique}INDEX {identifier(name)} ON {identifier(table)} ({', '.join(columns)})"


_CONSTRAINT_NAME = re.compile(r"""CONSTRAINT\s+("(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|\w+)\s*$""",
                              re.IGNORECASE)


def _checks(sql: str) -> list[tuple[str, str]]:
    """The CHECK constraints of a CREATE TABLE, column or table ones, named where they are."""
    found = []
    for start, end in _check_spans(sql):
        body = normalised(sql[start:end])
        named = _CONSTRAINT_NAME.search(_before_check(sql, start))
        if named:
            label = f"check {named.group(1)}"
            found.append((label, f"CONSTRAINT {named.group(1)} CHECK {body}"))
        else:
            found.append((f"check {body}", f"CHECK {body}"))
    return sorted(found)


def _before_check(sql: str, start: int) -> str:
    """The text before the CHECK keyword whose parenthesis opens at ``start``."""
    head = sql[:start].rstrip()
    return head[: len(head) - len("CHECK")].rstrip()


def _check_spans(sql: str) -> list[tuple[int, int]]:
    """Where each CHECK's parenthesised expression is, skipping strings and comments."""
    spans = []
    index, length = 0, len(sql)
    pending_check = False
    while index < length:
        char = sql[index]
        if char in "'\"`[":
            close = "]" if char == "[" else char
            index = sql.find(close, index + 1)
            if index < 0:
                break
            index += 1
            pending_check = False
            continue
        if sql.startswith("--", index):
            newline = sql.find("\n", index)
            index = length if newline < 0 else newline + 1
            continue
        if sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            index = length if end < 0 else end + 2
            continue
        if char.isalpha() or char == "_":
            end = index
            while end < length and (sql[end].isalnum() or sql[end] in "_$"):
                end += 1
            pending_check = sql[index:end].upper() == "CHECK"
            index = end
            continue
        if char == "(" and pending_check:
            end = _closing(sql, index)
            spans.append((index, end))
            index = end
            pending_check = False
            continue
        if not char.isspace():
            pending_check = False
        index += 1
    return spans


def _closing(sql: str, start: int) -> int:
    """The index just past the parenthesis that closes the one at ``start``."""
    depth = 0
    index = start
    while index < len(sql):
        char = sql[index]
        if char in "'\"`":
            index = sql.find(char, index + 1)
            if index < 0:
                return len(sql)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(sql)


def _options(sql: str) -> str:
    """WITHOUT ROWID and STRICT: what follows the column list."""
    tail = sql[sql.rfind(")") + 1:]
    words = [w.upper() for w in re.findall(r"[A-Za-z]+", tail)]
    options = []
    if "WITHOUT" in words and "ROWID" in words:
        options.append("WITHOUT ROWID")
    if "STRICT" in words:
        options.append("STRICT")
    return ", ".join(options)

