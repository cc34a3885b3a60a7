"""Schema snapshots (SPEC 10): what a database holds, as data that compares and prints the
same way every time, whichever database it came from.

Each database reads its own catalog (``sqlite.py``, ``postgresql.py``, ``mysql.py``) into
the same objects; this module sorts, prints, parses back (the schema file) and compares them.
"""
from __future__ import annotations

import re
from typing import NamedTuple

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator, Mapping, Sequence

# The order objects print in: what others depend on first, as a reader expects.
KINDS = ("extension", "schema", "type", "sequence", "table", "virtual table", "index", "view",
         "materialized view", "function", "procedure", "package", "package body", "trigger")
_RANK = {kind: rank for rank, kind in enumerate(KINDS)}


class SchemaObject(NamedTuple):
    """One object. A table's ``parts`` are its columns, then its constraints and options,
    each (label, text): "column email", "email TEXT NOT NULL". Any other object has one
    part, its definition."""

    kind: str
    name: str
    parts: tuple[tuple[str, str], ...]
    ref: str = ""  # a table's name quoted for SQL, to read its rows (``name`` is for people)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    def sql(self) -> str:
        if self.kind == "table":
            body = ",\n".join(f"    {text}" for _, text in self.parts)
            return f"CREATE TABLE {self.name} (\n{body}\n);"
        return "\n".join(text for _, text in self.parts).rstrip(";") + ";"


class Snapshot(NamedTuple):
    """A database's schema, sorted; with ``rows``, each table's contents (sorted, so that
    two snapshots compare whatever order the rows came in)."""

    objects: tuple[SchemaObject, ...]
    rows: Mapping[str, tuple[tuple[Any, ...], ...]] | None = None

    def by_label(self) -> dict[str, SchemaObject]:
        return {obj.label: obj for obj in self.objects}


def snapshot(objects: Iterable[SchemaObject], rows: Mapping[str, Any] | None = None) -> Snapshot:
    """Objects in print order: by kind, then name. (Bucketed rather than sorted on a
    computed key: verify takes three snapshots per migration, of thousands of objects.)"""
    from operator import attrgetter

    buckets: dict[str, list[SchemaObject]] = {}
    for obj in objects:
        buckets.setdefault(obj.kind, []).append(obj)
    ordered: list[SchemaObject] = []
    for kind in sorted(buckets, key=lambda kind: (_RANK.get(kind, len(KINDS)), kind)):
        ordered += sorted(buckets[kind], key=attrgetter("name"))
    return Snapshot(tuple(ordered), rows)


def single(kind: str, name: str, definition: str) -> SchemaObject:
    return SchemaObject(kind, name, ((kind, definition),))


# -- text ------------------------------------------------------------------------------------

FILE_HEADER = ("-- The database's schema, written by link-migration after every run that "
               "changed it (SCHEMA_FILE).\n-- Do not edit: `link-migration check` reports any "
               "difference from the database as drift.")
_VERSION_LINE = re.compile(r"^-- version: (\d+)$", re.MULTILINE)
_OBJECT_LINE = re.compile(r"^-- (" + "|".join(re.escape(k) for k in KINDS) + r") (.+)$")


def text(snap: Snapshot, *, version: int | None = None, header: bool = False) -> str:
    """The snapshot as SQL-like text, one block per object, each headed by a comment naming
    it (what ``parse`` reads back)."""
    blocks = []
    if header:
        blocks.append(FILE_HEADER + ("" if version is None else f"\n-- version: {version}"))
    for obj in snap.objects:
        blocks.append(f"-- {obj.label}\n{obj.sql()}")
    if not snap.objects:
        blocks.append("-- (no objects)")
    return "\n\n".join(blocks) + "\n"


def parse(content: str) -> tuple[Snapshot, int | None]:
    """A schema file back into a snapshot whose parts are labelled by their own text (the
    file has no labels), and the version its header names, if any."""
    objects: list[SchemaObject] = []
    kind = name = None
    lines: list[str] = []

    def close() -> None:
        if kind is not None:
            objects.append(_from_text(kind, name or "", lines))

    for line in content.replace("\r\n", "\n").split("\n"):
        match = _OBJECT_LINE.match(line)
        if match:
            close()
            kind, name, lines = match.group(1), match.group(2), []
        elif kind is not None:
            lines.append(line)
    close()
    version = _VERSION_LINE.search(content)
    return snapshot(objects), int(version.group(1)) if version else None


def _from_text(kind: str, name: str, lines: list[str]) -> SchemaObject:
    while lines and not lines[-1].strip():  # the blank line between blocks
        lines.pop()
    if kind == "table" and len(lines) >= 2 and lines[-1] == ");":
        parts = [line.strip().rstrip(",") for line in lines[1:-1]]
        return SchemaObject(kind, name, tuple((part, part) for part in parts))
    definition = "\n".join(lines).rstrip(";")
    return SchemaObject(kind, name, ((definition, definition),))


def as_written(snap: Snapshot) -> Snapshot:
    """The snapshot as ``parse`` reads it back from its own text: compared with a parsed
    file, whatever the text format cannot tell apart (a line in a function body that looks
    like a block's heading, say) reads the same way on both sides."""
    return parse(text(snap))[0]


def as_json(snap: Snapshot) -> dict[str, Any]:
    return {"objects": [
        {"kind": obj.kind, "name": obj.name, "sql": obj.sql(),
         **({"parts": [{"name": label, "sql": part} for label, part in obj.parts]}
            if obj.kind == "table" else {})}
        for obj in snap.objects
    ]}


# -- comparing -------------------------------------------------------------------------------

EXTRA, MISSING, CHANGED = "extra", "missing", "changed"


class Change(NamedTuple):
    """One way ``actual`` differs from ``expected``: ``what`` is an object's label, or a
    table's part ("table users: column email"); ``was``/``now`` its texts (None: absent)."""

    what: str
    change: str
    was: str | None
    now: str | None


def differences(expected: Snapshot, actual: Snapshot) -> list[Change]:
    """Every object, table part and (with rows in both) table content that differs."""
    if expected == actual:  # the usual answer, found at C speed
        return []
    changes: list[Change] = []
    want, have = expected.by_label(), actual.by_label()
    for label in _ordered(want, have):
        old, new = want.get(label), have.get(label)
        if new is None:
            changes.append(Change(label, MISSING, old.sql() if old else None, None))
        elif old is None:
            changes.append(Change(label, EXTRA, None, new.sql()))
        elif old != new:
            changes.extend(_part_changes(old, new))
    if expected.rows is not None and actual.rows is not None:
        changes.extend(_row_changes(expected.rows, actual.rows))
    return changes


def _ordered(*maps: Mapping[str, SchemaObject]) -> list[str]:
    objects = {label: obj for mapping in maps for label, obj in mapping.items()}
    return [obj.label for obj in snapshot(objects.values()).objects]


def _part_changes(old: SchemaObject, new: SchemaObject) -> Iterator[Change]:
    if old.kind != "table":
        yield Change(old.label, CHANGED, old.sql(), new.sql())
        return
    was, now = dict(old.parts), dict(new.parts)
    for label in list(was) + [label for label in now if label not in was]:
        unnamed = label == was.get(label, now.get(label))  # parsed from a file: text alone
        what = f"{old.label}: `{label}`" if unnamed else f"{old.label}: {label}"
        if label not in now:
            yield Change(what, MISSING, was[label], None)
        elif label not in was:
            yield Change(what, EXTRA, None, now[label])
        elif was[label] != now[label]:
            yield Change(what, CHANGED, was[label], now[label])


def _row_changes(expected: Mapping[str, Sequence[Any]], actual: Mapping[str, Sequence[Any]]
                 ) -> Iterator[Change]:
    from collections import Counter

    for table in sorted(set(expected) & set(actual)):
        if expected[table] == actual[table]:
            continue
        # By their printed form: a row may hold lists or dicts (arrays, JSON), which no
        # Counter can hash, and values print the same exactly when they are the same.
        want, have = Counter(map(_row, expected[table])), Counter(map(_row, actual[table]))
        gone, added = list((want - have).elements()), list((have - want).elements())
        parts = []
        if gone:
            parts.append(f"{_rows(len(gone))} missing (such as {_short(gone[0], 80)})")
        if added:
            parts.append(f"{_rows(len(added))} more (such as {_short(added[0], 80)})")
        yield Change(f"table {table}: rows", CHANGED, None, "; ".join(parts))


def _rows(count: int) -> str:
    return f"{count:,} row{'s' if count != 1 else ''}"


def _row(values: Sequence[Any]) -> str:
    return "(" + ", ".join(repr(v) for v in values) + ")"


def describe(change: Change, *, extra: str, missing: str, changed: str = "differs") -> str:
    """One change in words; the caller says what extra and missing mean where it compares
    ("still exists" after a down, "is not in schema.sql" for drift)."""
    if change.change == EXTRA:
        return f"{change.what} {extra}"
    if change.change == MISSING:
        return f"{change.what} {missing}"
    if change.was is None:  # rows: ``now`` says how
        return f"{change.what} differ: {change.now}"
    return f"{change.what} {changed}: was `{_short(change.was)}`, now `{_short(change.now)}`"


def _short(sql: str | None, limit: int = 120) -> str:
    flat = " ".join((sql or "").split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def table_rows(query: Any, tables: Sequence[SchemaObject]) -> dict[str, tuple[tuple[Any, ...], ...]]:
    """Each table's rows, sorted, by the table's name: what ``--data`` compares."""
    return {table.name: tuple(sorted((tuple(_comparable(v) for v in row)
                                      for row in query(f"SELECT * FROM {table.ref}", ())),
                                     key=repr))
            for table in tables}


def _comparable(value: Any) -> Any:
    # A driver's buffer object prints its address, not its bytes.
    return bytes(value) if isinstance(value, (memoryview, bytearray)) else value


# -- helpers for the readers -----------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<comment>--[^\n]*|/\*.*?\*/)"""
    r"""|(?P<quoted>'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])"""
    r"""|(?P<word>[A-Za-z_0-9$.]+)|(?P<op><>|<=|>=|!=|==|\|\||::|.)""",
    re.DOTALL,
)


def normalised(sql: str) -> str:
    """SQL text with its comments dropped and its spacing made uniform, so that two spellings
    of one definition compare equal; the words and their case stay as written."""
    out: list[str] = []
    for match in _TOKEN.finditer(sql.strip().rstrip(";")):
        token = match.group()
        if match.lastgroup in ("space", "comment"):
            continue
        if match.lastgroup == "quoted" and token[0] in '"`[' and _SIMPLE.match(token[1:-1]):
            token = token[1:-1]  # SQLite writes "t" for t once a table is renamed
        if out and not (token in (",", ")", ";") or out[-1] == "(" or (
                token == "(" and _WORDISH.match(out[-1]) and out[-1].upper() not in _SPACED)):
            out.append(" ")
        out.append(token)
    return "".join(out).replace(" ,", ",").strip()


_WORDISH = re.compile(r"""^[A-Za-z_0-9$."`\]]""")
# Keywords after which "(" is not a call: printed "CHECK (x > 0)", as people write it.
_SPACED = {"CHECK", "KEY", "IN", "AS", "ON", "TABLE", "USING", "VALUES", "AND", "OR", "NOT",
           "REFERENCES", "UNIQUE", "WHEN", "THEN", "ELSE", "EXISTS", "SELECT", "FROM", "WHERE"}

_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def identifier(name: str, quote: str = '"') -> str:
    """``name`` as SQL would name it: bare when it can be, else quoted."""
    if _SIMPLE.match(name):
        return name
    return quote + name.replace(quote, quote * 2) + quote
