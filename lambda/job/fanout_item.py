"""Job-side helper for the array modes: run a command on this array child's item.

    python3 -m fanout_item s3://bucket/runs/<exec>/items/batch-000000.jsonl -- CMD ARGS...

Reads line ``AWS_BATCH_JOB_ARRAY_INDEX`` (0 when the job is not an array child, i.e. a batch of one) of
the JSONL object and replaces this process with ``CMD ARGS... <item JSON>``, so the command's exit code is
the job's exit code. The object is streamed and reading stops at the wanted line. ``file://`` URIs read a
local file (for trying a command locally). Standard library + boto3 only.

Exit codes of its own: 64 bad usage, 66 the line does not exist, 127 the command is not found.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlparse

USAGE = "usage: python3 -m fanout_item s3://BUCKET/KEY -- CMD [ARGS...]"


class ItemNotFoundError(Exception):
    """The JSONL object has fewer lines than the array index asks for."""


def array_index(env: dict[str, str] | None = None) -> int:
    raw = (os.environ if env is None else env).get("AWS_BATCH_JOB_ARRAY_INDEX", "0") or "0"
    index = int(raw)
    if index < 0:
        raise ValueError(f"AWS_BATCH_JOB_ARRAY_INDEX={raw} is negative")
    return index


def nth_line(lines: Iterable[bytes], index: int) -> str:
    """Line ``index`` (0-based) of a stream of lines, without reading past it."""
    for number, line in enumerate(lines):
        if number == index:
            return line.rstrip(b"\r\n").decode("utf-8")
    raise ItemNotFoundError(f"the items object has no line {index}")


def read_item(uri: str, index: int, s3: Any = None) -> str:
    """The item JSON text at line ``index`` of an ``s3://`` or ``file://`` JSONL object."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        with open(parsed.path, "rb") as handle:
            return nth_line(handle, index)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.lstrip("/"):
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    body = s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
    try:
        return nth_line(body.iter_lines(keepends=True), index)
    finally:
        body.close()


def main(
    argv: Sequence[str] | None = None,
    exec_fn: Callable[[str, list[str]], Any] = os.execvp,
    s3: Any = None,
) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[1] != "--":
        print(USAGE, file=sys.stderr)
        return 64
    uri, command = args[0], args[2:]
    try:
        item = read_item(uri, array_index(), s3)
    except (ItemNotFoundError, ValueError) as err:
        print(f"fanout_item: {err}", file=sys.stderr)
        return 66
    try:
        exec_fn(command[0], [*command, item])
    except FileNotFoundError:
        print(f"fanout_item: command not found: {command[0]}", file=sys.stderr)
        return 127
    return 0  # only reached when exec_fn returns (tests)


if __name__ == "__main__":
    sys.exit(main())
