"""The rows of one table from a MySQL/MariaDB dump (``mysqldump`` output), streamed.

Wikimedia's SQL table dumps hold a ``CREATE TABLE`` and then ``INSERT INTO `table` VALUES
(...),(...);`` statements. Values are numbers, ``NULL`` or single-quoted strings with
MySQL's backslash escapes (https://dev.mysql.com/doc/refman/8.0/en/string-literals.html:
\\0 \\' \\" \\b \\n \\r \\t \\Z \\\\, and \\% \\_ which keep their backslash; any other
escaped character stands for itself). The tokenizer works on a buffer of decompressed
bytes, so a statement or a row may be cut anywhere by the read chunks.
"""

import re

from .dump_io import DumpError

_STATEMENT = re.compile(rb"(?:INSERT(?: IGNORE)?|REPLACE) INTO `([^`]+)` VALUES\s*")
_CREATE = re.compile(rb"CREATE TABLE `([^`]+)` \((.*?)\n\)", re.S)
_COLUMN = re.compile(rb"^\s*`([^`]+)`", re.M)
_VALUE = rb"(?:'([^'\\]*(?:\\.[^'\\]*)*)'|(-?[0-9][0-9.eE+-]*)|(NULL))"
_ESCAPE = re.compile(rb"\\(.)", re.S)
_ESCAPED = {b"0": b"\x00", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a",
            b"%": b"\\%", b"_": b"\\_"}
MAX_ROW = 1 << 20  # a row longer than this is malformed, not cut by the chunking
MAX_GAP = 1 << 24  # bytes between statements (the header, LOCK TABLES, comments)


def unescape(raw):
    """A quoted string's bytes, backslash escapes resolved."""
    if b"\\" not in raw:
        return raw
    return _ESCAPE.sub(lambda m: _ESCAPED.get(m.group(1), m.group(1)), raw)


def table_rows(chunks, path, table, columns):
    """Yield each row of ``table`` as a tuple: int for a number, bytes for a string (escapes
    resolved), None for NULL.

    The dump's CREATE TABLE, when it is there, must start with ``columns`` in this order; an
    INSERT into another table, a row that does not parse, a statement cut short by the end
    of the file, or no INSERT into ``table`` at all is a DumpError (nothing in the dump says
    where a row ends but the row itself, so a bad row near the end reads as a cut one).
    """
    row = re.compile(rb"\s*\(" + rb",".join([_VALUE] * len(columns)) + rb"\)\s*([,;])")
    chunks = iter(chunks)
    buf, pos, in_values, seen, eof = b"", 0, False, False, False
    while True:
        if in_values:
            m = row.match(buf, pos)
            if m:
                *values, end = m.groups()
                yield _values(values)
                pos, in_values = m.end(), end == b","
                continue
            if eof:
                raise DumpError(f"{path}: an INSERT statement that does not parse or is cut short "
                                f"(truncated?): {buf[pos:pos + 120]!r}")
            if len(buf) - pos > MAX_ROW:
                raise DumpError(f"{path}: a row of `{table}` that does not parse: {buf[pos:pos + 120]!r}")
        else:
            m = _STATEMENT.search(buf, pos)
            if m:
                if m.group(1).decode("utf-8", "replace") != table:
                    raise DumpError(f"{path}: a dump of table `{m.group(1).decode('utf-8', 'replace')}`, "
                                    f"not `{table}`")
                if not seen:
                    _check_columns(buf[:m.start()], path, table, columns)
                pos, in_values, seen = m.end(), True, True
                continue
            if eof:
                break
            if len(buf) - pos > MAX_GAP:
                raise DumpError(f"{path}: not a MySQL dump of `{table}` (no INSERT INTO `{table}` "
                                f"in {MAX_GAP >> 20} MB)")
        chunk = next(chunks, None)
        if chunk is None:
            eof = True
        else:
            buf, pos = buf[pos:] + chunk, 0
    if not seen:
        raise DumpError(f"{path}: not a MySQL dump of `{table}` (no INSERT INTO `{table}`)")


def _check_columns(header, path, table, columns):
    for m in _CREATE.finditer(header):
        if m.group(1).decode("utf-8", "replace") == table:
            found = [c.decode("utf-8", "replace") for c in _COLUMN.findall(m.group(2))][:len(columns)]
            if found != list(columns):
                raise DumpError(f"{path}: `{table}` has columns {found}, expected {list(columns)}")


def _values(groups):
    out = []
    for i in range(0, len(groups), 3):
        string, number, _null = groups[i:i + 3]
        if string is not None:
            out.append(unescape(string))
        elif number is not None:
            out.append(int(number) if number.lstrip(b"-").isdigit() else float(number))
        else:
            out.append(None)
    return tuple(out)
