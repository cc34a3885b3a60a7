"""Splits a SQL script into statements, so they can run one by one inside a transaction.

sqlite3's executescript() commits before it starts, which would break the one-transaction
promise, and most drivers' execute() takes one statement at a time; running statements one by
one also lets an error name the statement and its line. A semicolon ends a statement unless it
is inside something that may hold one (SPEC 8):

- quotes: '...' and "..." (a doubled quote is a quote), `...`, SQLite's [...], PostgreSQL's
  E'...' (backslash escapes), MySQL's backslash escapes in '...' and "...", dollar quotes
  ($$...$$, $tag$...$tag$);
- comments: -- to the end of the line (MySQL's needs a blank after it, and has # as well),
  /* ... */ (nested in PostgreSQL);
- the body of a trigger, routine, event or rule: BEGIN ... END and CASE ... END nest there, as
  do parentheses (a PostgreSQL rule's several actions); MySQL's END IF, END LOOP, END WHILE,
  END REPEAT and MariaDB's END FOR close constructs that are only ever inside a BEGIN ... END,
  so they are not counted. Outside those statements BEGIN; and END; are transaction control,
  statements of their own.

The scan is linear: one regular expression per flavour finds the next character that matters,
skipping runs of ordinary text in C, and each quote or comment is skipped in one step.
"""
from __future__ import annotations

import re
from typing import NamedTuple

FLAVOURS = ("sqlite", "postgresql", "mysql", "generic")


class Statement(NamedTuple):
    """One statement of a script, with where it came from.

    ``script[start:end]`` is the statement's raw piece: everything after the previous
    statement's piece up to and including its terminating semicolon (blanks, comments and empty
    statements included); the last statement's piece runs to the end of the script. The pieces
    of all statements rejoin to the script exactly.
    """

    number: int  # 1-based, counting only non-empty statements
    line: int  # 1-based line of the statement's first character that is not blank or comment
    text: str  # the statement, stripped, without its terminating semicolon
    start: int
    end: int


class _Rules(NamedTuple):
    """What one flavour's lexer does, compiled once at import."""

    token: re.Pattern[str]  # the next thing that matters in an ordinary statement
    block_token: re.Pattern[str]  # the same, plus what nests in a trigger or routine
    blank: re.Pattern[str]  # whitespace and line comments before a statement
    nested_comments: bool
    executable_comments: bool  # MySQL runs /*! ... */ and MariaDB /*M! ... */


# Quotes and comments, each matched whole by one pattern, so that the scanning loop in Python
# runs once per token rather than once per character. Each inside is an "unrolled loop" that
# matches the longest possible run and never has to fail, and the closing character is
# optional: an unterminated quote runs to the end of the script in one linear pass, with no
# catastrophic backtracking.
_QUOTED = {
    "single": r"'[^']*(?:''[^']*)*'?",
    "double": r'"[^"]*(?:""[^"]*)*"?',
    "single_backslash": r"'[^'\\]*(?:(?:\\[\s\S]|'')[^'\\]*)*'?",
    "double_backslash": r'"[^"\\]*(?:(?:\\[\s\S]|"")[^"\\]*)*"?',
    "backquote": r"`[^`]*(?:``[^`]*)*`?",
    "bracket": r"\[[^\]]*\]?",
    "block_comment": r"/\*[^*]*(?:\*+(?!/)[^*]*)*(?:\*+/)?",  # not nested
}
_NESTING = re.compile(r"/\*|\*/")

# A word must not be part of a longer identifier ($ is an identifier character in PostgreSQL
# and MySQL) nor a qualified name's column (new.end).
_WORD_BEFORE = r"(?<![\w$.])"
_WORD_AFTER = r"(?![\w$])"

# The statements whose body may hold semicolons of their own. Modifiers that may come between
# CREATE and the kind: OR REPLACE, MySQL's DEFINER = user@host, TEMP/TEMPORARY (SQLite),
# CONSTRAINT or EVENT (PostgreSQL triggers), AGGREGATE (MySQL functions).
_DEFINER_PART = r"(?:`[^`]*`|'[^']*'|\"[^\"]*\"|[^\s@;]+)"
_BLOCK_HEAD = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?"
    rf"(?:DEFINER\s*=\s*{_DEFINER_PART}(?:\s*@\s*{_DEFINER_PART})?\s+)?"
    r"(?:(?:TEMP|TEMPORARY|CONSTRAINT|EVENT|AGGREGATE)\s+)?"
    rf"(?:TRIGGER|PROCEDURE|FUNCTION|EVENT|PACKAGE|RULE){_WORD_AFTER}",
    re.IGNORECASE,
)


def _rules(
    *,
    backslash: bool,
    brackets: bool,
    escape_strings: bool,
    dollar_quotes: bool,
    hash_comments: bool,
    nested_comments: bool,
) -> _Rules:
    """Compile one flavour's patterns from what its lexer knows."""
    # MySQL: "--" starts a comment only before a blank or control character (1--1 is 2).
    dashes = r"--(?=[\x00-\x20]|\Z)" if hash_comments else "--"
    line_comment = rf"(?:{dashes}|#)[^\n]*" if hash_comments else rf"{dashes}[^\n]*"
    skipped = [
        _QUOTED["single_backslash" if backslash else "single"],
        line_comment,
        _QUOTED["double_backslash" if backslash else "double"],
        _QUOTED["backquote"],
    ]
    if not nested_comments:
        skipped.append(_QUOTED["block_comment"])
    if brackets:
        skipped.append(_QUOTED["bracket"])
    if escape_strings:
        skipped.append(_WORD_BEFORE + "[Ee]" + _QUOTED["single_backslash"])
    alternatives = [r"(?P<semi>;)", f"(?P<skip>{'|'.join(skipped)})"]
    if nested_comments:
        alternatives.append(r"(?P<nested>/\*)")  # depth needs counting: done in Python
    if dollar_quotes:
        # $1 is a parameter and a$b$ an identifier, not dollar quotes: a tag never starts with
        # a digit and the opening $ never follows an identifier character.
        alternatives.append(r"(?P<dollar>(?<![\w$])\$(?:[^\W\d]\w*)?\$)")
    block = alternatives + [
        # END IF / LOOP / WHILE / REPEAT / FOR close constructs never counted as open; tried
        # before a plain END, which closes a BEGIN or a CASE (END CASE too, the CASE consumed).
        rf"(?P<flow>{_WORD_BEFORE}(?i:END\s+(?:IF|LOOP|WHILE|REPEAT|FOR)){_WORD_AFTER})",
        rf"(?P<open>\(|{_WORD_BEFORE}(?i:BEGIN|CASE){_WORD_AFTER})",
        rf"(?P<close>\)|{_WORD_BEFORE}(?i:END(?:\s+CASE)?){_WORD_AFTER})",
    ]
    # A lookahead of the characters that can start a token lets the engine reject an ordinary
    # character with one test instead of trying every alternative at it (3 to 4 times faster).
    starts = ";'\"`/\\-" + ("\\[" if brackets else "") + ("$" if dollar_quotes else "")
    starts += "#" if hash_comments else ""
    first = f"[{starts}]" + ("|[Ee]'" if escape_strings else "")
    block_first = f"{first}|[()]|(?i:BEGIN|CASE|END)"
    return _Rules(
        token=re.compile(f"(?={first})(?:{'|'.join(alternatives)})"),
        block_token=re.compile(f"(?={block_first})(?:{'|'.join(block)})"),
        blank=re.compile(rf"(?:\s+|{line_comment})*"),
        nested_comments=nested_comments,
        executable_comments=hash_comments,  # both MySQL's
    )


_RULES = {
    "sqlite": _rules(backslash=False, brackets=True, escape_strings=False, dollar_quotes=False,
                     hash_comments=False, nested_comments=False),
    "postgresql": _rules(backslash=False, brackets=False, escape_strings=True, dollar_quotes=True,
                         hash_comments=False, nested_comments=True),
    "mysql": _rules(backslash=True, brackets=False, escape_strings=False, dollar_quotes=False,
                    hash_comments=True, nested_comments=False),
    # What works for most: no backslash escapes nor nested comments (which would swallow too
    # much where they are not the rule), dollar quotes and brackets (which appear nowhere else).
    "generic": _rules(backslash=False, brackets=True, escape_strings=True, dollar_quotes=True,
                      hash_comments=False, nested_comments=False),
}


def split_statements(script: str, flavour: str = "generic") -> list[str]:
    """The statements of ``script`` without their terminating semicolons; empty ones dropped."""
    return [statement.text for statement in statements(script, flavour)]


def statements(script: str, flavour: str = "generic") -> list[Statement]:
    """The non-empty statements of ``script``, numbered, with their lines and raw pieces.

    ``flavour`` is one of FLAVOURS. An unterminated quote, comment or dollar quote runs to the
    end of the script and stays in the statement it starts in, for the database to report.
    """
    try:
        rules = _RULES[flavour]
    except KeyError:
        raise ValueError(
            f"unknown SQL flavour {flavour!r}: expected one of {', '.join(FLAVOURS)}"
        ) from None
    found: list[Statement] = []
    length = len(script)
    piece_start = position = 0
    line, counted_to = 1, 0  # lines are counted incrementally, to stay linear
    while position < length:
        first = _skip_blank(script, position, rules)
        if first >= length:
            break
        if script[first] == ";":  # an empty statement: its piece joins the next statement's
            position = first + 1
            continue
        block = _BLOCK_HEAD.match(script, first) is not None
        semicolon = _find_end(script, first, rules.block_token if block else rules.token)
        line += script.count("\n", counted_to, first)
        counted_to = first
        piece_end = min(semicolon + 1, length)
        text = script[first:semicolon].rstrip()
        found.append(Statement(len(found) + 1, line, text, piece_start, piece_end))
        piece_start = position = piece_end
    if found and piece_start < length:  # trailing blanks, comments and empty statements
        found[-1] = found[-1]._replace(end=length)
    return found


def _skip_blank(script: str, position: int, rules: _Rules) -> int:
    """Where the next statement starts: past whitespace and complete comments.

    An unterminated block comment is where the statement starts, so that it is sent to the
    database rather than silently dropped; so is a MySQL executable comment, which runs
    (mysqldump's /*!40101 SET NAMES utf8 */;).
    """
    while True:
        position = rules.blank.match(script, position).end()
        if not script.startswith("/*", position):
            return position
        if rules.executable_comments and script.startswith(("/*!", "/*M!"), position):
            return position
        end = _comment_end(script, position + 2, rules.nested_comments)
        if end == -1:
            return position
        position = end


def _comment_end(script: str, position: int, nested: bool) -> int:
    """The index just past the block comment whose inside starts at ``position``, or -1 if
    the comment is never closed."""
    if not nested:
        end = script.find("*/", position)
        return -1 if end == -1 else end + 2
    depth = 1
    search = _NESTING.search
    while True:
        match = search(script, position)
        if match is None:
            return -1
        position = match.end()
        depth += 1 if match.group() == "/*" else -1
        if depth == 0:
            return position


def _find_end(script: str, position: int, token: re.Pattern[str]) -> int:
    """The index of the semicolon that ends the statement starting at ``position``, or the
    script's length when none does."""
    length = len(script)
    search = token.search
    depth = 0  # BEGIN, CASE and "(" not yet closed: only ever above 0 in a trigger or routine
    while True:
        match = search(script, position)
        if match is None:
            return length
        kind = match.lastgroup
        position = match.end()
        if kind == "skip":  # a quote or comment, matched whole
            continue
        if kind == "semi":
            if depth == 0:
                return match.start()
        elif kind == "nested":
            end = _comment_end(script, position, nested=True)
            position = length if end == -1 else end
        elif kind == "dollar":
            end = script.find(match.group(), position)
            position = length if end == -1 else end + len(match.group())
        elif kind == "open":
            depth += 1
        elif kind == "close":
            depth = max(depth - 1, 0)  # a stray END or ")" is the database's to report
        # "flow" (END IF and the like) changes nothing
