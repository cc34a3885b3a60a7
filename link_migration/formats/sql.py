"""SQL migration files, in the layouts the peers write them (SPEC 8).

Discovery needs only a file's name to know its version and layout; the file's text is read
for its checksum and description, and parsed into statements only when the migration is
about to run. The layouts:

- ``0007_add_users.sql`` with dbmate's ``-- migrate:up`` / ``-- migrate:down`` markers (the
  native layout), or goose's ``-- +goose Up`` / ``-- +goose Down`` annotations;
- golang-migrate's pair ``0007_add_users.up.sql`` + ``0007_add_users.down.sql``;
- Flyway's ``V7__add_users.sql`` + ``U7__add_users.sql`` (undo). Flyway's repeatable
  ``R__name.sql`` files have no version: they are listed as unsupported.

Each migration becomes a ``SqlMigration`` with ``up`` and ``down`` scripts that the runner
calls as it calls a Python migration's functions: it never knows which layout it ran.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, NamedTuple

from ..errors import DiscoveryError

NATIVE = "native"  # dbmate's markers, or goose's annotations: told apart by the file's text
GOLANG_MIGRATE = "golang-migrate"
FLYWAY = "flyway"

_GOLANG_NAME = re.compile(r"([0-9]+)_(.*)\.(up|down)\.sql\Z", re.ASCII)
_FLYWAY_NAME = re.compile(r"([VU])([0-9][0-9._]*)__(.*)\.sql\Z", re.ASCII)
_NATIVE_NAME = re.compile(r"([0-9]+)(?:_(.*))?\.sql\Z", re.ASCII)
_REPEATABLE_NAME = re.compile(r"R__.*\.sql\Z")


class SqlName(NamedTuple):
    """What a ``.sql`` file's name says: its version, layout and role."""

    version: int
    layout: str
    description: str
    down: bool  # the down (or undo) half of a pair


def read_name(name: str, folder: Path) -> SqlName | None:
    """What ``name`` says, None for a Flyway repeatable migration (not supported); a name in
    no layout's shape is an error naming the file."""
    # The cheap tests first: this runs once per file of the folder.
    match = _GOLANG_NAME.match(name) if name.endswith((".up.sql", ".down.sql")) else None
    if match:
        return SqlName(int(match[1]), GOLANG_MIGRATE, _words(match[2]), match[3] == "down")
    match = _FLYWAY_NAME.match(name) if name[:1] in ("V", "U") else None
    if match:
        if not match[2].isdigit():
            raise DiscoveryError(
                f"{folder / name}: Flyway version {match[2].replace('_', '.')} is not a whole "
                "number; link-migration orders migrations by whole versions",
                f"Rename it with a whole version, such as {match[1]}{match[2].split('.')[0].split('_')[0]}"
                f"__{match[3]}.sql, keeping versions in the order they should run.",
            )
        return SqlName(int(match[2]), FLYWAY, _words(match[3]), match[1] == "U")
    match = _NATIVE_NAME.match(name)
    if match:
        return SqlName(int(match[1]), NATIVE, _words(match[2] or ""), False)
    if _REPEATABLE_NAME.match(name):
        return None
    raise DiscoveryError(
        f"{folder / name}: a .sql file whose name is in no known layout",
        "Name it VERSION_description.sql (dbmate or goose markers inside), "
        "VERSION_description.up.sql / .down.sql (golang-migrate), or V<VERSION>__description.sql "
        "/ U<VERSION>__description.sql (Flyway).",
    )


def _words(name: str) -> str:
    return name.replace("_", " ").strip()


def partner(name: str, layout: str) -> str | None:
    """The down file's name for an up file of a pair layout."""
    if layout == GOLANG_MIGRATE:
        return name[: -len(".up.sql")] + ".down.sql"
    if layout == FLYWAY:
        return "U" + name[1:]
    return None


def description_from(source: bytes) -> str:
    """A leading ``--`` comment line that is not a marker says more than the name."""
    if not source.lstrip()[:2] == b"--":
        return ""
    for raw in source[:4096].splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(b"--"):
            text = line[2:].strip().decode("utf-8", "replace")
            if text and not _MARKER.match("-- " + text):
                return text
        return ""
    return ""


# -- the text: sections, markers and statements ----------------------------------------------

_MARKER = re.compile(r"--\s*(?:migrate:|\+goose\s|transaction:)", re.IGNORECASE)
_DBMATE = re.compile(r"--\s*migrate:(up|down)\b(.*)$", re.IGNORECASE)
_GOOSE = re.compile(r"--\s*\+goose\s+(\S+)(.*)$", re.IGNORECASE)
_OPTION = re.compile(r"--\s*transaction:false\s*$", re.IGNORECASE)
_TRANSACTION_CONTROL = re.compile(
    r"(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|"
    r"PREPARE\s+TRANSACTION|SET\s+(?:SESSION\s+)?AUTOCOMMIT)(?![\w$])",
    re.IGNORECASE,
)
_BEGIN_BLOCK = re.compile(r"BEGIN\s+(?:NOT\s+)?ATOMIC\b", re.IGNORECASE)  # MariaDB compound


class Section(NamedTuple):
    """One direction's SQL in a file: its text from ``line`` on, and what was decided."""

    path: Path
    text: str
    line: int  # the file's line where ``text`` starts
    transactional: bool
    blocks: tuple[tuple[int, str], ...] = ()  # goose StatementBegin/End: (line, statement)
    pieces: tuple[tuple[int, str], ...] = ()  # goose: the text around the blocks, in order
    unwrap: bool = False  # golang-migrate: a BEGIN; ... COMMIT; around the file is ours


class SqlScript:
    """One direction of a SQL migration, called by the runner as it calls up()/down().

    ``prepare(flavour)`` splits it and checks it before any migration of the run starts;
    calling it runs the statements one by one on the context's connection."""

    def __init__(self, section: Section | None, missing: str = "") -> None:
        self._section = section
        self._missing = missing
        self.transactional = section.transactional if section is not None else True
        self.statements: list[tuple[int, int, str]] = []  # (number, line, text)
        self.controls_transactions = False
        self._flavours: dict[str, SqlScript] = {}

    def for_flavour(self, flavour: str) -> SqlScript:
        """This script split for ``flavour``, prepared once and then only read: a fleet's
        targets share the migration, perhaps on databases of more than one kind, and run it
        from several threads."""
        script = self._flavours.get(flavour)
        if script is None:
            script = SqlScript(self._section, self._missing)
            script.prepare(flavour)
            self._flavours[flavour] = script
        return script

    def prepare(self, flavour: str) -> None:
        section = self._section
        if section is None:
            raise DiscoveryError(self._missing, "Add it, or roll back less.")
        self.statements = _statements(section, flavour)
        if self.transactional:
            _refuse_transaction_control(section, self.statements)
        # One outside a transaction may group statements in its own: then the store must not
        # open transactions around them.
        self.controls_transactions = any(
            _TRANSACTION_CONTROL.match(text) and not _BEGIN_BLOCK.match(text)
            for _, _, text in self.statements)

    def __call__(self, context: Any, start: int = 0,
                 run: Callable[[Any, str, int, str], None] | None = None) -> None:
        """Run the statements after the first ``start`` (a resumed migration). ``run``, when
        given, runs each one instead (cursor, text, its number, and the checksum of the text
        of the statements up to it), so that the store can record it as it completes."""
        from ..context import add_location
        from ..dialects import dialect_for

        path = self._section.path if self._section is not None else ""
        cursor = dialect_for(context.connection).cursor()
        prefix = self._prefix(start) if run is not None else None
        for number, line, text in self.statements[start:]:
            try:
                if run is None:
                    cursor.execute(text)
                    if getattr(cursor, "description", None) is not None:
                        cursor.fetchall()  # an unbuffered cursor refuses the next statement until then
                else:
                    assert prefix is not None
                    _add_statement(prefix, text, number)
                    run(cursor, text, number, prefix.copy().hexdigest())
            except Exception as exc:
                add_location(exc, f"in statement {number} (line {line}) of {path}")
                raise

    def checksum_of_first(self, count: int) -> str:
        """A checksum of the text of the first ``count`` statements: a resumed migration must
        find them as they ran."""
        return self._prefix(count).hexdigest()

    def _prefix(self, count: int) -> Any:
        """A running SHA-256 over the first ``count`` statements, to go on from: one pass,
        however many statements the migration has."""
        from ..discovery import _sha256

        hasher = _sha256()
        for number, _, text in self.statements[:count]:
            _add_statement(hasher, text, number)
        return hasher

    def first_lines(self, flavour: str) -> list[str]:
        """Each statement's first line, for ``--dry-run -v``."""
        if self._section is None:
            return []
        return [f"line {line}: {text.splitlines()[0]}"
                for _, line, text in _statements(self._section, flavour)]


def _add_statement(hasher: Any, text: str, number: int) -> None:
    """One more statement into a running checksum: separated from the one before, line
    endings as discovery's checksums count them."""
    if number > 1:
        hasher.update(b"\0")
    hasher.update(text.encode("utf-8").replace(b"\r\n", b"\n").replace(b"\r", b"\n"))


class SqlMigration:
    """What the loader gives for a ``.sql`` migration: up and down, as a module would."""

    def __init__(self, version: int, up: SqlScript, down: SqlScript) -> None:
        self.version = version
        self.up = up
        self.down = down


def load(path: Path, version: int, layout: str) -> SqlMigration:
    """Parse the migration at ``path`` (and its down file, for the pair layouts)."""
    text = _read(path)
    if layout == NATIVE:
        up, down = _native_or_goose(path, text)
    else:
        option = _leading_option(text)
        up = Section(path, text, 1, not option, unwrap=layout == GOLANG_MIGRATE)
        down_path = path.with_name(partner(path.name, layout) or "")
        if down_path.is_file():
            down_text = _read(down_path)
            down = Section(down_path, down_text, 1, not _leading_option(down_text),
                           unwrap=layout == GOLANG_MIGRATE)
        else:
            down = None
        missing_down = f"{path}: migration {version} has no down file ({down_path.name})"
        return SqlMigration(version, SqlScript(up), SqlScript(down, missing_down))
    return SqlMigration(
        version,
        SqlScript(up),
        SqlScript(down, f"{path}: migration {version} has no down section"),
    )


def read_bytes(path: str | Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise DiscoveryError(f"cannot read migration {path}: {exc.strerror or exc}",
                             "Check its permissions.") from None


def _read(path: Path) -> str:
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DiscoveryError(f"{path}, line {line}: not UTF-8 text",
                             "Save the file as UTF-8.") from None


def _leading_option(text: str) -> bool:
    """Whether a leading comment line says ``-- transaction:false`` (our mark for the pair
    layouts, which have none of their own)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            return False
        if _OPTION.match(stripped):
            return True
    return False


def _native_or_goose(path: Path, text: str) -> tuple[Section | None, Section | None]:
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if _DBMATE.match(stripped):
            return _dbmate(path, lines)
        if _GOOSE.match(stripped):
            return _goose(path, lines)
        if stripped and not stripped.startswith("--"):
            break
    raise DiscoveryError(
        f"{path}, line 1: no up marker: the file has neither '-- migrate:up' (dbmate) nor "
        "'-- +goose Up' (goose) before its first statement",
        "Start the file with -- migrate:up (and put -- migrate:down before the down SQL).",
    )


def _dbmate(path: Path, lines: list[str]) -> tuple[Section | None, Section | None]:
    found: dict[str, tuple[int, bool]] = {}  # direction: (line of its marker, transactional)
    order: list[tuple[str, int]] = []
    for number, line in enumerate(lines, start=1):
        match = _DBMATE.match(line.strip())
        if not match:
            continue
        direction = match[1].lower()
        options = match[2].split()
        unknown = [o for o in options if o.lower() != "transaction:false"]
        if unknown:
            raise DiscoveryError(f"{path}, line {number}: unknown option {unknown[0]!r} after "
                                 f"-- migrate:{direction}",
                                 "The one option is transaction:false.")
        if direction in found:
            raise DiscoveryError(f"{path}, line {number}: a second -- migrate:{direction}",
                                 "Keep one up and one down section.")
        found[direction] = (number, not options)
        order.append((direction, number))
    if "up" not in found:
        raise DiscoveryError(f"{path}, line 1: no -- migrate:up marker",
                             "Put -- migrate:up before the up SQL.")
    first = order[0][1]
    _only_comments_before(path, lines, first)
    sections: dict[str, Section] = {}
    for index, (direction, number) in enumerate(order):
        end = order[index + 1][1] - 1 if index + 1 < len(order) else len(lines)
        sections[direction] = Section(path, "".join(lines[number:end]), number + 1,
                                      found[direction][1])
    return sections["up"], sections.get("down")


def _goose(path: Path, lines: list[str]) -> tuple[Section | None, Section | None]:
    transactional = True
    current: str | None = None
    pieces: dict[str, list[tuple[int, str]]] = {}
    blocks: dict[str, list[tuple[int, str]]] = {}
    starts: dict[str, int] = {}
    block_start: int | None = None
    block_lines: list[str] = []
    piece: list[str] = []
    piece_line = 0

    def close_piece() -> None:
        if current is not None and piece:
            pieces[current].append((piece_line, "".join(piece)))

    for number, line in enumerate(lines, start=1):
        match = _GOOSE.match(line.strip())
        if not match:
            if block_start is not None:
                block_lines.append(line)
            elif current is not None:
                if not piece:
                    piece_line = number
                piece.append(line)
            elif line.strip() and not line.strip().startswith("--"):
                raise DiscoveryError(f"{path}, line {number}: SQL before -- +goose Up",
                                     "Put the up SQL after -- +goose Up.")
            continue
        word = (match[1] + match[2]).strip().lower()
        word = re.sub(r"\s+", " ", word)
        if word in ("up", "down"):
            if block_start is not None:
                raise DiscoveryError(f"{path}, line {block_start}: StatementBegin without "
                                     "StatementEnd", "Close the block with -- +goose StatementEnd.")
            if word in starts:
                raise DiscoveryError(f"{path}, line {number}: a second -- +goose {match[1]}",
                                     "Keep one Up and one Down section.")
            close_piece()
            piece = []
            current = word
            starts[word] = number
            pieces[word] = []
            blocks[word] = []
        elif word == "statementbegin":
            if current is None:
                raise DiscoveryError(f"{path}, line {number}: StatementBegin before -- +goose Up",
                                     "Put it inside the Up or Down section.")
            if block_start is not None:
                raise DiscoveryError(f"{path}, line {number}: StatementBegin inside another "
                                     "block", "Close the first with -- +goose StatementEnd.")
            close_piece()
            piece = []
            block_start = number
            block_lines = []
        elif word == "statementend":
            if block_start is None or current is None:
                raise DiscoveryError(f"{path}, line {number}: StatementEnd without "
                                     "StatementBegin", "Open the block with -- +goose StatementBegin.")
            statement = "".join(block_lines).strip()
            if statement.endswith(";"):
                statement = statement[:-1].rstrip()
            pieces[current].append((block_start + 1, ""))  # keeps the block's place in order
            blocks[current].append((block_start + 1, statement))
            block_start = None
        elif word == "no transaction":
            transactional = False
        else:
            raise DiscoveryError(f"{path}, line {number}: unknown goose annotation "
                                 f"'+goose {match[1]}{match[2].rstrip()}'",
                                 "link-migration knows Up, Down, StatementBegin, StatementEnd "
                                 "and NO TRANSACTION.")
    if block_start is not None:
        raise DiscoveryError(f"{path}, line {block_start}: StatementBegin without StatementEnd",
                             "Close the block with -- +goose StatementEnd.")
    close_piece()
    if "up" not in starts:
        raise DiscoveryError(f"{path}, line 1: no -- +goose Up annotation",
                             "Put -- +goose Up before the up SQL.")

    def section(direction: str) -> Section | None:
        if direction not in starts:
            return None
        return Section(path, "", starts[direction] + 1, transactional,
                       tuple(blocks[direction]), tuple(pieces[direction]))

    return section("up"), section("down")


def _only_comments_before(path: Path, lines: list[str], marker: int) -> None:
    for number, line in enumerate(lines[: marker - 1], start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            raise DiscoveryError(f"{path}, line {number}: SQL before the first -- migrate: marker",
                                 "Put the up SQL after -- migrate:up.")


def _statements(section: Section, flavour: str) -> list[tuple[int, int, str]]:
    """(number, line in the file, text) of each statement of ``section``, in order."""
    from ..sqlscript import statements

    found: list[tuple[int, int, str]] = []
    if section.pieces or section.blocks:
        blocks = iter(section.blocks)
        for line, text in section.pieces:
            if text == "":
                block_line, block = next(blocks)
                if block:
                    found.append((len(found) + 1, block_line, block))
                continue
            for statement in statements(text, flavour):
                found.append((len(found) + 1, line + statement.line - 1, statement.text))
        return found
    for statement in statements(section.text, flavour):
        found.append((len(found) + 1, section.line + statement.line - 1, statement.text))
    if section.unwrap and section.transactional:
        found = _unwrapped(found)
    return found


def _unwrapped(found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """golang-migrate runs a file as it is, so its files often bring their own BEGIN; ...
    COMMIT;. Around the whole file that means what our transaction means: it is dropped."""
    if len(found) >= 2 and _is_begin(found[0][2]) and re.fullmatch(
            r"(?:COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?", found[-1][2], re.IGNORECASE):
        inner = found[1:-1]
        return [(index, line, text) for index, (_, line, text) in enumerate(inner, start=1)]
    return found


def _is_begin(text: str) -> bool:
    return re.fullmatch(r"(?:BEGIN(?:\s+(?:WORK|TRANSACTION))?|START\s+TRANSACTION)", text,
                        re.IGNORECASE) is not None


def _refuse_transaction_control(section: Section, found: list[tuple[int, int, str]]) -> None:
    for number, line, text in found:
        if _TRANSACTION_CONTROL.match(text) and not _BEGIN_BLOCK.match(text):
            keyword = " ".join(text.split()[:2]) if text[:5].upper() == "START" else text.split()[0]
            raise DiscoveryError(
                f"{section.path}, line {line}: statement {number} is {keyword.upper()}, "
                "transaction control, in a migration that link-migration runs in a "
                "transaction of its own: it would end that transaction and break the "
                "migration's atomicity",
                "Remove it, or run the migration outside a transaction: '-- migrate:up "
                "transaction:false' (dbmate), '-- +goose NO TRANSACTION' (goose), or a first "
                "line '-- transaction:false' in a golang-migrate or Flyway file.",
            )
