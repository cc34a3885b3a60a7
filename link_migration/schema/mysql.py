"""A MySQL or MariaDB database's schema: the current database's objects, from SHOW CREATE and
information_schema.

SHOW CREATE TABLE prints one column, key or constraint per line: each becomes a part of the
table (indexes live inside tables here). What is state rather than schema is dropped: the
AUTO_INCREMENT counter, DEFINER clauses, and the database's own name before object names.
"""
from __future__ import annotations

import re

from . import SchemaObject, identifier, single

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Callable, Collection, Sequence

    Query = Callable[[str, Sequence[Any]], "list[Any]"]

_AUTO_INCREMENT = re.compile(r"\s+AUTO_INCREMENT=\d+")
_DEFINER = re.compile(r"\s+DEFINER=(`[^`]*`|\S+)@(`[^`]*`|\S+)")


def _name(name: str) -> str:
    return identifier(name, "`")


def read(query: Query, own_tables: Collection[str]) -> list[SchemaObject]:
    own = {t.rsplit(".", 1)[-1] for t in own_tables}
    ((database,),) = query("SELECT DATABASE()", ())
    if database is None:
        return []
    prefix = f"`{database}`."
    objects: list[SchemaObject] = []
    for table, kind in query(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME", ()):
        if table in own:
            continue
        if kind == "VIEW":
            continue  # below, from information_schema.VIEWS
        if kind == "SEQUENCE":
            ((_, definition),) = query(f"SHOW CREATE SEQUENCE {_quoted(table)}", ())
            objects.append(single("sequence", _name(table),
                                  _without_state(definition).replace(prefix, "")))
            continue
        row = query(f"SHOW CREATE TABLE {_quoted(table)}", ())[0]
        objects.append(_table(table, row[1].replace(prefix, "")))
    for view, definition, check in query(
            "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION FROM information_schema.VIEWS "
            "WHERE TABLE_SCHEMA = DATABASE()", ()):
        text = f"CREATE VIEW {_name(view)} AS {definition.replace(prefix, '')}"
        if check and check != "NONE":
            text += f" WITH {check} CHECK OPTION"
        objects.append(single("view", _name(view), text))
    for trigger, table, timing, event, statement in query(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, "
            "ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
            ()):
        if table in own:
            continue
        objects.append(single(
            "trigger", _name(trigger),
            f"CREATE TRIGGER {_name(trigger)} {timing} {event} ON {_name(table)} FOR EACH ROW "
            f"{statement.replace(prefix, '')}"))
    for routine, kind in query(
            "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
            "WHERE ROUTINE_SCHEMA = DATABASE()", ()):
        row = query(f"SHOW CREATE {kind} {_quoted(routine)}", ())[0]
        definition = row[2]
        if definition is None:
            definition = f"-- no privilege to read the definition of {kind.lower()} {routine}"
        objects.append(single(kind.lower(), _name(routine),
                              _without_state(definition).replace(prefix, "")))
    return objects


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _without_state(definition: str) -> str:
    return _DEFINER.sub("", _AUTO_INCREMENT.sub("", definition)).strip()


def _table(table: str, definition: str) -> SchemaObject:
    lines = definition.split("\n")
    # Columns and keys, then ") ENGINE=..." and, for a partitioned table, its partitions.
    end = next((i for i, line in enumerate(lines) if i and line.startswith(")")), len(lines))
    parts = []
    for line in lines[1:end]:
        text = line.strip().rstrip(",")
        parts.append((_label(text), text))
    options = _without_state(lines[end][1:]) if end < len(lines) else ""
    if options:
        parts.append(("options", options))
    partitions = " ".join(line.strip() for line in lines[end + 1:])
    if partitions:
        parts.append(("partitions", partitions))
    return SchemaObject("table", _name(table), tuple(parts), _quoted(table))


_KEY = re.compile(r"^(PRIMARY KEY|UNIQUE KEY|FULLTEXT KEY|SPATIAL KEY|KEY|CONSTRAINT)\s*(`(?:[^`]|``)*`)?")


def _label(text: str) -> str:
    """What a line of SHOW CREATE TABLE is: "column email", "index users_email_idx", ..."""
    if text.startswith("`"):
        return "column " + text[1:text.index("`", 1)]
    match = _KEY.match(text)
    if not match:
        return text
    kind, name = match.group(1), (match.group(2) or "").strip("`")
    if kind == "PRIMARY KEY":
        return "primary key"
    if kind == "CONSTRAINT":
        what = "foreign key" if " FOREIGN KEY " in text else "check" if " CHECK " in text else \
            "constraint"
        return f"{what} {name}"
    return f"{'unique index' if kind == 'UNIQUE KEY' else 'index'} {name}"
