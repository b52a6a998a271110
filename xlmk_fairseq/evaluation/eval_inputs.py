"""Reading evaluation inputs so that every bad file becomes one clear message, not a traceback."""

import json


class EvalInputError(ValueError):
    """A missing, unreadable or wrongly laid out input file; xlmk-eval prints it and exits non-zero."""


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise EvalInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EvalInputError(f"{path}: is a directory, expected a file") from None
    except UnicodeDecodeError as e:
        raise EvalInputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise EvalInputError(f"{path}: {e.strerror}") from None


def read_json(path: str):
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise EvalInputError(f"{path}: malformed JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


def read_lines(path: str) -> list[str]:
    """Split on newlines only: str.splitlines would also split inside a line at U+2028 and kin."""
    return [line.rstrip("\r") for line in read_text(path).split("\n")]
