"""Entry point of the sandbox's background process: moto's server with the sandbox's additions.

    python -m fanout_tools.sandbox.server --port N --state-dir DIR [--workers W]

Started (detached) by ``fanout sandbox up``; not meant to be run by hand, though it may be, in the
foreground, to watch its log. Before serving it applies the sandbox's moto configuration, the
compatibility layer (:mod:`fanout_tools.sandbox.compat`) and the real Lambda/Batch runners, which
read the faults ``fanout sandbox fault`` keeps in ``<state dir>/faults.json``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MOTO_CONFIG: dict[str, dict[str, bool]] = {
    "stepfunctions": {"execute_state_machine": True},
    # the stack attaches AWS managed policies (AWSBatchServiceRole, ...); moto knows them only when asked
    "iam": {"load_aws_managed_policies": True},
    "lambda": {"use_docker": False},
    "batch": {"use_docker": False},
}

SYNC_POLL_SECONDS = 0.2
"""How soon the interpreter first checks a ``.sync`` Batch job (moto: every 0.5 s). Jobs here take
milliseconds, so at 0.5 s the poll, not the work, bounded a 1,000-item run; AWS itself is event-driven."""
SYNC_POLL_MAX_SECONDS = 2.0
SYNC_POLL_BACKOFF = 1.5
"""While one ``.sync`` wait lasts, each check waits 1.5 times longer than the last, up to 2 s. A check
of a job this server runs reads its status in process and calls DescribeJobs (through the server's own
HTTP front) only once the job has ended; before that, the 100 array jobs of a 1,000,000-item run cost
50 such requests a second while they waited (500 at a fixed 0.2 s), slowing their children down."""

_sync_wait = threading.local()


def sync_poll_delays() -> Iterator[float]:
    """The pauses between one ``.sync`` wait's checks: 0.2, 0.3, 0.45, ... s, then 2 s each."""
    delay = SYNC_POLL_SECONDS
    while True:
        yield delay
        delay = min(delay * SYNC_POLL_BACKOFF, SYNC_POLL_MAX_SECONDS)


class _SyncWaitClock:
    """``time`` as moto's ``.sync`` wait loop sees it: its one fixed pause becomes the next of
    :func:`sync_poll_delays` while a wait of this thread lasts (anything else is the real ``time``)."""

    pause = staticmethod(time.sleep)

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        delays = getattr(_sync_wait, "delays", None)
        if delays is None:
            self.pause(seconds)
            return
        pause, job_id = next(delays), getattr(_sync_wait, "job_id", None)
        runner = _batch_runner()
        if job_id is not None and runner is not None:  # a job this server runs (see _eval_sync)
            runner.wait_for_end(job_id, pause)  # woken as soon as the job ends
        else:
            self.pause(pause)


def _batch_runner() -> Any:
    from fanout_tools.sandbox import batch_runner

    return batch_runner.ACTIVE


def batch_job_of(sync_resolver: Any) -> str | None:
    """The Batch job a ``.sync`` resolver checks: moto's Batch resolver is a closure over ``job_id``
    (state_task_service_batch.py); None for any other resolver."""
    code = getattr(sync_resolver, "__code__", None)
    closure = getattr(sync_resolver, "__closure__", None)
    if code is None or closure is None or "job_id" not in code.co_freevars:
        return None
    value = closure[code.co_freevars.index("job_id")].cell_contents
    return value if isinstance(value, str) else None


def back_off_sync_polls() -> None:
    """Install :data:`SYNC_POLL_BACKOFF` into moto's ``.sync`` wait (``_eval_sync``), once; and, for a
    Batch job this server runs, check its status in process, calling DescribeJobs only once it has
    ended, and wake the wait as soon as it ends (AWS learns of a job's end from events, not polls)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as module,
    )

    callback = module.StateTaskServiceCallback
    if getattr(callback._eval_sync, "sandbox_backoff", False):
        return
    original = callback._eval_sync

    def _eval_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        resolver = kwargs.get("sync_resolver", args[1] if len(args) > 1 else None)
        job_id = batch_job_of(resolver)
        runner = _batch_runner()
        if job_id is None or runner is None or runner.job_ended(job_id) is None:
            job_id = None  # not a job this server runs: DescribeJobs at each check, plain pauses
        else:

            def only_once_ended() -> Any:
                return resolver() if runner.job_ended(job_id) else None

            if "sync_resolver" in kwargs:
                kwargs["sync_resolver"] = only_once_ended
            else:
                args = (args[0], only_once_ended, *args[2:])
        _sync_wait.delays = sync_poll_delays()
        _sync_wait.job_id = job_id
        try:
            return original(self, *args, **kwargs)
        finally:
            _sync_wait.delays = None
            _sync_wait.job_id = None

    _eval_sync.sandbox_backoff = True  # type: ignore[attr-defined]
    callback._eval_sync = _eval_sync  # type: ignore[method-assign]
    module.time = _SyncWaitClock()  # type: ignore[assignment]


def configure(port: int, state_dir: Path, workers: int | None = None) -> None:
    """Everything the sandbox changes in moto, in one call (also used by in-process tests)."""
    from moto.core.config import default_user_config

    from fanout_tools.sandbox import batch_runner, compat, faults, lambda_runner

    for service, settings in MOTO_CONFIG.items():
        default_user_config[service] = dict(settings)  # type: ignore[literal-required]
    compat.apply_all(port)
    back_off_sync_polls()
    lambda_runner.install(port, _subdir(state_dir, "lambda"), faults.Store(state_dir))
    batch_runner.install(port, state_dir, workers)


def _subdir(base: Path, name: str) -> Path:
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def serve(port: int, state_dir: Path) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from fanout_tools.sandbox import compat
    from fanout_tools.sandbox.layout import READY_FILE

    app = compat.replay_retried_sdk_requests(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    (state_dir / READY_FILE).write_text(f"{os.getpid()}\n")
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    from fanout_tools.sandbox import batch_runner

    parser = argparse.ArgumentParser(prog="fanout-sandbox-server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=batch_runner.WORKERS_HELP,
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # werkzeug logs every request at INFO; keep the log to warnings and the runners' messages.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def _stop(signum: int, frame: Any) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    state_dir = args.state_dir.resolve()
    configure(args.port, state_dir, args.workers)
    from fanout_tools.sandbox.batch_runner import work_dir

    os.chdir(work_dir(state_dir))  # array children are spawned without a chdir: they inherit this
    print(f"sandbox: serving on 127.0.0.1:{args.port} (pid {os.getpid()})", flush=True)
    serve(args.port, state_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
