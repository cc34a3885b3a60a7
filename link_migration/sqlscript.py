"""Splits a SQL script into statements, so they can run one by one inside a transaction.

sqlite3's executescript() commits before it starts, which would break the one-transaction
promise; cursor.execute() takes one statement at a time. The splitter knows quotes, comments
and CREATE TRIGGER ... BEGIN ... END bodies, which contain semicolons of their own.
"""
from __future__ import annotations

import re

_TRIGGER = re.compile(r"\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b", re.IGNORECASE)
_ENDS_WITH_END = re.compile(r"\bEND\s*$", re.IGNORECASE)


def split_statements(script: str) -> list[str]:
    """The statements of ``script`` without their terminating semicolons; empty ones dropped."""
    statements: list[str] = []
    current: list[str] = []
    index, length = 0, len(script)
    while index < length:
        char = script[index]
        if char in "'\"`[":
            closing = "]" if char == "[" else char
            end = script.find(closing, index + 1)
            while end != -1 and closing != "]" and script[end + 1 : end + 2] == closing:
                end = script.find(closing, end + 2)  # a doubled quote is a quote
            end = length - 1 if end == -1 else end
            current.append(script[index : end + 1])
            index = end + 1
            continue
        if script.startswith("--", index):
            end = script.find("\n", index)
            end = length if end == -1 else end
            index = end
            continue
        if script.startswith("/*", index):
            end = script.find("*/", index + 2)
            index = length if end == -1 else end + 2
            continue
        if char == ";":
            text = "".join(current)
            if _TRIGGER.match(text) and not _ENDS_WITH_END.search(text):
                current.append(char)  # a semicolon inside the trigger's body
            else:
                _keep(statements, text)
                current = []
            index += 1
            continue
        current.append(char)
        index += 1
    _keep(statements, "".join(current))
    return statements


def _keep(statements: list[str], text: str) -> None:
    text = text.strip()
    if text:
        statements.append(text)
