"""Verb ``unlock``: release a stale Terraform state lock of a stack.

A command that was killed (SIGKILL, a lost SSH session, a CI job cancelled) can leave the S3 lock
object ``<state key>.tflock`` behind; the next command then fails with ``PreconditionFailed`` /
"Error acquiring the state lock". Use this only when no other command on that stack is running:
it shows who holds the lock and since when, then runs ``terraform force-unlock`` with its ID.
https://developer.hashicorp.com/terraform/language/backend/s3#state-locking
"""

from __future__ import annotations

import argparse
import json

from fanout_tools.deploy import Stack, add_target_arguments
from fanout_tools.errors import FanoutError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument(
        "--lock-id", default=None, help="the lock ID Terraform printed (default: read the lock)"
    )


def held_lock(stack: Stack) -> dict[str, str] | None:
    """The lock record of ``stack``'s state (``None`` when there is none)."""
    backend = stack.target.backend(stack.name)
    s3 = stack.target.client("s3", region=backend.setting("region"))
    bucket, key = backend.setting("bucket"), backend.setting("key")
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{key}.tflock")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    try:
        return {str(k): str(v) for k, v in json.loads(body or b"{}").items()}
    except ValueError:
        return {"ID": "", "Info": body.decode(errors="replace")[:200]}


def run(args: argparse.Namespace) -> int:
    from fanout_tools.deploy import open_from_args

    stack = open_from_args(args, start=False, package=False)
    lock = held_lock(stack)
    lock_id = args.lock_id or (lock or {}).get("ID")
    if not lock_id:
        print(f"unlock: the state of stack {stack.name} on {stack.target.name} is not locked")
        return 0
    if lock:
        print(
            f"unlock: lock {lock_id} held by {lock.get('Who', '?')} since {lock.get('Created', '?')} "
            f"({lock.get('Operation', '?')})"
        )
    try:
        stack.runner().force_unlock(lock_id)
    except FanoutError as err:
        raise FanoutError(err.message, "check the lock ID (Terraform prints it in the lock error)") from None
    print(f"unlock: released; next: `{stack.hint('plan')}`")
    return 0
