"""A PostgreSQL database's schema, from pg_catalog (PostgreSQL 12 and later).

The server prints its own definitions (pg_get_constraintdef, pg_get_indexdef,
pg_get_viewdef, pg_get_triggerdef, pg_get_functiondef), so that text is already normalised.
System schemas and the objects of extensions are left out: an extension is listed by name.
Names in the connection's current schema print unqualified; others as schema.name.
"""
from __future__ import annotations

from . import SchemaObject, identifier, single

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Callable, Collection, Sequence

    Query = Callable[[str, Sequence[Any]], "list[Any]"]

_USER_SCHEMA = ("{n}.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND {n}.nspname NOT LIKE 'pg\\_toast%' AND {n}.nspname NOT LIKE 'pg\\_temp\\_%'")


def _user(alias: str, oid: str, catalog: str) -> str:
    """SQL: in a user's schema, and not part of an extension."""
    return (_USER_SCHEMA.format(n=alias) + f" AND NOT EXISTS (SELECT 1 FROM pg_depend e "
            f"WHERE e.classid = '{catalog}'::regclass AND e.objid = {oid} AND e.deptype = 'e')")


class _Names:
    """Prints names as the schema's own SQL would: qualified outside the current schema."""

    def __init__(self, schema: str | None) -> None:
        self.schema = schema

    def __call__(self, schema: str, name: str) -> str:
        bare = identifier(name)
        return bare if schema == self.schema else f"{identifier(schema)}.{bare}"


def read(query: Query, own_tables: Collection[str], schema: str | None) -> list[SchemaObject]:
    """Every object of the user's schemas but ``own_tables`` (conf.py's names, unqualified
    ones in ``schema``) and what belongs to them."""
    name = _Names(schema)
    own = {tuple(t.split(".", 1)) if "." in t else (schema, t) for t in own_tables}
    objects: list[SchemaObject] = []
    objects += [single("extension", identifier(ext), f"CREATE EXTENSION {identifier(ext)}")
                for (ext,) in query("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
                                    ())]
    objects += [single("schema", identifier(nsp), f"CREATE SCHEMA {identifier(nsp)}")
                for (nsp,) in query(
                    "SELECT n.nspname FROM pg_namespace n WHERE n.nspname <> 'public' AND "
                    + _user("n", "n.oid", "pg_namespace"), ())]
    objects += _tables(query, name, own)
    objects += _indexes(query, name, own)
    objects += _views(query, name)
    objects += _sequences(query, name, own)
    objects += _types(query, name)
    objects += _routines(query, name)
    objects += _triggers(query, name, own)
    return objects


def _tables(query: Query, name: _Names, own: set[tuple[str | None, str]]) -> list[SchemaObject]:
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for nsp, rel, column, type_, notnull, default, identity, generated, collation in query(
            "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
            "a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, "
            "CASE WHEN a.attcollation <> t.typcollation THEN co.collname END "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "JOIN pg_type t ON t.oid = a.atttypid "
            "LEFT JOIN pg_collation co ON co.oid = a.attcollation "
            "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
            "WHERE c.relkind IN ('r', 'p', 'f') AND " + _user("n", "c.oid", "pg_class")
            + " ORDER BY n.nspname, c.relname, a.attnum", ()):
        if (nsp, rel) in own:
            continue
        text = f"{identifier(column)} {type_}"
        if collation:
            text += f" COLLATE {identifier(collation)}"
        if generated == "s":
            text += f" GENERATED ALWAYS AS ({default}) STORED"
        elif default is not None:
            text += f" DEFAULT {default}"
        if identity:
            text += f" GENERATED {'ALWAYS' if identity == 'a' else 'BY DEFAULT'} AS IDENTITY"
        if notnull:
            text += " NOT NULL"
        tables.setdefault((nsp, rel), []).append((f"column {column}", text))
    kinds = {"p": "primary key", "u": "unique", "f": "foreign key", "c": "check",
             "x": "exclusion"}
    for nsp, rel, constraint, kind, definition in query(
            "SELECT n.nspname, c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid) "
            "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE k.contype IN ('p', 'u', 'f', 'c', 'x') AND " + _user("n", "c.oid", "pg_class")
            + " ORDER BY n.nspname, c.relname, k.contype, k.conname", ()):
        if (nsp, rel) in tables:
            tables[(nsp, rel)].append(
                (f"{kinds[kind]} {constraint}",
                 f"CONSTRAINT {identifier(constraint)} {definition}"))
    for nsp, rel, partition in query(
            "SELECT n.nspname, c.relname, pg_get_partkeydef(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'p' AND "
            + _user("n", "c.oid", "pg_class"), ()):
        if (nsp, rel) in tables:
            tables[(nsp, rel)].append(("partition", f"PARTITION BY {partition}"))
    return [SchemaObject("table", name(nsp, rel), tuple(parts), f"{_quoted(nsp)}.{_quoted(rel)}")
            for (nsp, rel), parts in tables.items()]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _indexes(query: Query, name: _Names, own: set[tuple[str | None, str]]) -> list[SchemaObject]:
    """Indexes of their own; those of primary key, unique and exclusion constraints show
    with their table."""
    return [single("index", name(nsp, index), definition)
            for nsp, index, table, definition in query(
                "SELECT n.nspname, ci.relname, ct.relname, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid "
                "JOIN pg_class ct ON ct.oid = i.indrelid "
                "JOIN pg_namespace n ON n.oid = ci.relnamespace "
                "WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid "
                "AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')) AND "
                + _user("n", "ct.oid", "pg_class"), ())
            if (nsp, table) not in own]


def _views(query: Query, name: _Names) -> list[SchemaObject]:
    views = []
    for nsp, view, kind, definition in query(
            "SELECT n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm') AND "
            + _user("n", "c.oid", "pg_class"), ()):
        what = "view" if kind == "v" else "materialized view"
        body = " ".join(definition.split()).rstrip(";")
        views.append(single(what, name(nsp, view),
                            f"CREATE {what.upper()} {name(nsp, view)} AS {body}"))
    return views


def _sequences(query: Query, name: _Names, own: set[tuple[str | None, str]]) -> list[SchemaObject]:
    """Sequences of their own or behind a serial column; an identity column's is part of it."""
    found = []
    for nsp, seq, type_, start, step, low, high, cycle, owner_nsp, owner, column in query(
            "SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, "
            "s.seqincrement, s.seqmin, s.seqmax, s.seqcycle, tn.nspname, t.relname, a.attname "
            "FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid "
            "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
            "LEFT JOIN pg_class t ON t.oid = d.refobjid "
            "LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.objid = c.oid "
            "AND i.deptype = 'i') AND " + _user("n", "c.oid", "pg_class"), ()):
        if owner is not None and (owner_nsp, owner) in own:
            continue
        text = (f"CREATE SEQUENCE {name(nsp, seq)} AS {type_} INCREMENT BY {step} "
                f"MINVALUE {low} MAXVALUE {high} START WITH {start}"
                + (" CYCLE" if cycle else ""))
        if owner is not None:
            text += f" OWNED BY {name(owner_nsp, owner)}.{identifier(column)}"
        found.append(single("sequence", name(nsp, seq), text))
    return found


def _types(query: Query, name: _Names) -> list[SchemaObject]:
    """Enums, domains and composite types."""
    found = []
    for nsp, type_, labels in query(
            "SELECT n.nspname, t.typname, string_agg(quote_literal(e.enumlabel), ', ' "
            "ORDER BY e.enumsortorder) FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid "
            "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE "
            + _user("n", "t.oid", "pg_type") + " GROUP BY n.nspname, t.typname", ()):
        found.append(single("type", name(nsp, type_),
                            f"CREATE TYPE {name(nsp, type_)} AS ENUM ({labels})"))
    for nsp, type_, base, notnull, default, checks in query(
            "SELECT n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod), t.typnotnull, "
            "t.typdefault, (SELECT string_agg(pg_get_constraintdef(k.oid), ' ' ORDER BY "
            "k.conname) FROM pg_constraint k WHERE k.contypid = t.oid) FROM pg_type t "
            "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'd' AND "
            + _user("n", "t.oid", "pg_type"), ()):
        text = f"CREATE DOMAIN {name(nsp, type_)} AS {base}"
        text += f" DEFAULT {default}" if default is not None else ""
        text += " NOT NULL" if notnull else ""
        text += f" {checks}" if checks else ""
        found.append(single("type", name(nsp, type_), text))
    composite: dict[tuple[str, str], list[str]] = {}
    for nsp, type_, attribute, attribute_type in query(
            "SELECT n.nspname, t.typname, a.attname, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c' "
            "JOIN pg_namespace n ON n.oid = t.typnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE " + _user("n", "t.oid", "pg_type") + " ORDER BY n.nspname, t.typname, a.attnum",
            ()):
        composite.setdefault((nsp, type_), []).append(f"{identifier(attribute)} {attribute_type}")
    for (nsp, type_), attributes in composite.items():
        found.append(single("type", name(nsp, type_),
                            f"CREATE TYPE {name(nsp, type_)} AS ({', '.join(attributes)})"))
    return found


def _routines(query: Query, name: _Names) -> list[SchemaObject]:
    return [single("procedure" if kind == "p" else "function",
                   f"{name(nsp, routine)}({arguments})", definition.strip())
            for nsp, routine, arguments, kind, definition in query(
                "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), "
                "p.prokind, pg_get_functiondef(p.oid) FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prokind IN ('f', 'p') AND "
                + _user("n", "p.oid", "pg_proc"), ())]


def _triggers(query: Query, name: _Names, own: set[tuple[str | None, str]]) -> list[SchemaObject]:
    return [single("trigger", f"{trigger} on {name(nsp, table)}", definition)
            for nsp, table, trigger, definition in query(
                "SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid) "
                "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND "
                + _user("n", "c.oid", "pg_class"), ())
            if (nsp, table) not in own]
