"""Verb ``sandbox``: start, stop or inspect the local sandbox account (moto's server on 127.0.0.1),
and inject faults into it.

    fanout sandbox up [--port N] [--workers W] | down | status
    fanout sandbox fault job-exit --items 2,5 [--code N] [--first-attempt-only]
    fanout sandbox fault spot-reclaim|stuck-runnable --items 2,5
    fanout sandbox fault submit-throttle|lambda-throttle --count N
    fanout sandbox fault list | clear
"""

from __future__ import annotations

import argparse

from fanout_tools.errors import SandboxError
from fanout_tools.sandbox import faults

FAULT_HELP = {
    faults.JOB_EXIT: "the jobs of these items exit non-zero (the command does not run)",
    faults.SPOT_RECLAIM: (
        "these items' first attempt ends as a reclaimed Spot Instance ends it "
        "(the retry strategy decides the rest)"
    ),
    faults.STUCK_RUNNABLE: "these items' jobs stay RUNNABLE until the job queue's time limit cancels them",
    faults.SUBMIT_THROTTLE: "the next N SubmitJob calls answer TooManyRequestsException (HTTP 429)",
    faults.LAMBDA_THROTTLE: (
        f"the next N invokes of the stack's generator (*{faults.GENERATOR_SUFFIX}) answer "
        "TooManyRequestsException (HTTP 429)"
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start the sandbox (or report the one running)")
    up.add_argument(
        "--port", type=int, default=None, help="port (default: $FANOUT_SANDBOX_PORT or a free one)"
    )
    from fanout_tools.sandbox.batch_runner import WORKERS_HELP

    up.add_argument(
        "--workers",
        type=int,
        default=None,
        help=WORKERS_HELP,
    )
    actions.add_parser("down", help="stop the sandbox")
    actions.add_parser("status", help="report whether the sandbox runs (and its faults)")
    fault = actions.add_parser(
        "fault",
        help="inject a fault (kept until `fault clear`), list or clear them",
        description="Make the running sandbox fail as AWS does, until `fanout sandbox fault clear`.",
    )
    kinds = fault.add_subparsers(dest="fault", metavar="KIND", required=True)
    for kind, help_text in FAULT_HELP.items():
        sub = kinds.add_parser(kind, help=help_text, description=help_text)
        if kind in faults.COUNT_KINDS:
            sub.add_argument("--count", required=True, help="how many calls (1 or more)")
        else:
            sub.add_argument("--items", required=True, help="item indexes (0-based), comma-separated: 2,5")
        if kind == faults.JOB_EXIT:
            sub.add_argument("--code", default="1", help="exit code, 1-255 (default 1)")
            sub.add_argument(
                "--first-attempt-only",
                action="store_true",
                help="only attempt 1 fails (a retry strategy that retries the code then succeeds)",
            )
    kinds.add_parser("list", help="print the faults in force")
    kinds.add_parser("clear", help="remove every fault")


def run(args: argparse.Namespace) -> int:
    if args.action == "up":
        return _up(args)
    if args.action == "down":
        return _down()
    if args.action == "fault":
        return _fault(args)
    return _status()


def _up(args: argparse.Namespace) -> int:
    from fanout_tools.sandbox import control, layout

    info, notes = control.up(port=args.port, workers=args.workers)
    for note in notes:
        print(f"note: {note}")
    print(f"sandbox running: {info.endpoint} (pid {info.pid}); log {info.log}; job logs {layout.jobs_dir()}")
    _note_faults()
    return 0


def _down() -> int:
    from fanout_tools import locks
    from fanout_tools.sandbox import control

    # not under a running apply/run/destroy on the sandbox: it would lose its account mid-way
    locks.acquire("sandbox", "sandbox down")
    strays = control.strays()
    stopped = control.down()
    print(
        f"sandbox stopped (pid {stopped.pid}, port {stopped.port})" if stopped else "sandbox was not running"
    )
    for pid in strays:
        print(f"stopped a stray sandbox server of this checkout (pid {pid})")
    return 0


def _status() -> int:
    from fanout_tools.sandbox import control

    stale = control.stale_pid_file()
    info = control.current()
    strays = control.strays()
    for pid in strays:
        print(
            f"stray sandbox server of this checkout: pid {pid} (no pid file names it); "
            "`make sandbox-down` stops it"
        )
    if info is None:
        detail = " (removed a stale pid file)" if stale else ""
        raise SandboxError(
            f"the sandbox is not running{detail}",
            "start it with `make sandbox-up` or `make apply`"
            + (f"; stop the {len(strays)} stray server(s) with `make sandbox-down`" if strays else ""),
        )
    state = "healthy" if control.healthy(info.port) else "NOT answering"
    print(f"sandbox running: {info.endpoint} (pid {info.pid}), {state}; log {info.log}")
    _note_faults()
    return 0


def _store() -> faults.Store:
    from fanout_tools.sandbox import layout

    return faults.Store(layout.sandbox_dir())


def _note_faults() -> None:
    found = _store().active().faults
    if found:
        print(f"note: {len(found)} injected fault(s) in force: `fanout sandbox fault list` shows them")


def _fault(args: argparse.Namespace) -> int:
    from fanout_tools.sandbox import compat, control

    store = _store()
    if args.fault == "list":
        found = store.faults()
        if not found:
            print("no sandbox faults in force")
        for number, fault in enumerate(found, 1):
            print(f"{number}. {fault.describe()}")
        return 0
    if args.fault == "clear":
        cleared = store.clear()
        print(f"cleared {cleared} sandbox fault(s)" if cleared else "no sandbox faults were in force")
        return 0
    fault = _parse_fault(args)
    info = control.current()
    if info is None:
        raise SandboxError(
            f"the sandbox is not running, so there is nothing to inject `{args.fault}` into",
            "start it with `make sandbox-up` (or `make apply`), then run the fault command again",
        )
    added = store.add(fault)
    print(f"sandbox fault added: {fault.describe()}")
    if len(added) > 1:
        print(
            f"{len(added)} faults in force: `fanout sandbox fault list` shows them, "
            "`fanout sandbox fault clear` ends them"
        )
    if fault.kind == faults.STUCK_RUNNABLE:
        print(
            "note: only a job queue with jobStateTimeLimitActions (job_state_time_limit_seconds) cancels "
            f"them; ${compat.JOB_STATE_TIME_SCALE_ENV}, set when the sandbox starts, scales that clock"
        )
    return 0


def _parse_fault(args: argparse.Namespace) -> faults.Fault:
    """The flags as a :class:`~fanout_tools.sandbox.faults.Fault` (ConfigError naming a bad flag)."""
    if args.fault in faults.COUNT_KINDS:
        return faults.Fault(args.fault, count=faults.parse_int(args.count, "--count", 1))
    items = faults.parse_items(args.items)
    if args.fault == faults.JOB_EXIT:
        code = faults.parse_int(args.code, "--code", 1, faults.MAX_EXIT_CODE)
        return faults.Fault(args.fault, items, code, args.first_attempt_only)
    return faults.Fault(args.fault, items)
