"""Every Batch job in the sandbox really runs its job definition's command (on the host, no Docker).

moto without Docker (``{"batch": {"use_docker": false}}``) marks a job SUCCEEDED without running
anything.
This module replaces ``BatchSimpleBackend.submit_job``: each job (or array child) is queued on a bounded
worker pool and runs as a subprocess with

- the job definition's command (or the SubmitJob override), every whole-argument ``Ref::name``
  replaced from the SubmitJob parameters merged over the job definition's defaults;
- the container environment plus ``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JQ_NAME``, ``AWS_BATCH_CE_NAME``,
  ``AWS_BATCH_JOB_ATTEMPT`` and, for array children, ``AWS_BATCH_JOB_ARRAY_INDEX``; the sandbox
  endpoint and fake credentials; ``PYTHONPATH`` with the repository's ``lambda/job`` (so
  ``python3 -m fanout_item`` works) and the tooling's Python first on ``PATH`` (it has boto3, as the
  job image does);
- the attempt timeout (the process group is killed) and TerminateJob (same).

The exit code decides SUCCEEDED or FAILED; the retry strategy (``attempts`` + ``evaluateOnExit``,
first matching rule wins, glob patterns, no match = retry) decides whether another attempt runs.
Output of every attempt goes to ``<jobs dir>/<job id>.log``.

Faults injected with ``fanout sandbox fault`` (:mod:`fanout_tools.sandbox.faults`) act here: an
attempt ends as the fault says instead of running, a ``stuck-runnable`` job is held RUNNABLE until its
queue's ``jobStateTimeLimitActions`` cancel it, and a throttled SubmitJob answers HTTP 429.

Array children do not go through that pool: :mod:`fanout_tools.sandbox.child_engine` starts them
(one thread, ``posix_spawn``, pidfds in one epoll set), their books are kept per array job
(:mod:`fanout_tools.sandbox.array_jobs`), and an inline-reader command has its item read in process
(:mod:`fanout_tools.sandbox.item_shortcut`).
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

from fanout_tools.paths import repo_root
from fanout_tools.sandbox import array_jobs, child_engine, compat, faults, item_shortcut, job_logs, layout
from fanout_tools.targets.base import BATCH_ENDED_STATUSES

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
EXIT_REASON = array_jobs.EXIT_REASON
TIMEOUT_REASON = child_engine.TIMEOUT_REASON


WORKERS_PER_CORE = 4
"""Jobs running at once per core, bounded so 1,000+ jobs never overwhelm the machine. More than one,
because a job's process spends part of its life starting, waiting and being reaped: with array
children of ~1 ms, 2 per core left the 2-core machine a third idle (100,000 children, children started
from threads: 102 s at 4 at once, 78 s at 8, 79 s at 16)."""

CHILDREN_PER_WORKER = 2
"""Array children running at once per default worker (``--workers W`` sets both to W). A child is a
short process the spawn helper starts and reaps, and more at once let each engine step take more ends
together: 100,000-item runs took 49, 56 and 58 s at 8 per core against 54, 61 and 64 s at 4, with
less server CPU per child in both pairs measured side by side (0.141/0.116 -> 0.104/0.112 ms). Plain
jobs stay at :data:`WORKERS_PER_CORE`: at 8 per core for them too, the test suite's sandboxes ran
twice the processes and two timing-bound tests failed in one fresh-clone run."""


WORKERS_HELP = (
    f"Batch jobs run at once (default: {WORKERS_PER_CORE}x cores,"
    f" array children {WORKERS_PER_CORE * CHILDREN_PER_WORKER}x cores)"
)


def default_workers() -> int:
    """Jobs running at once: :data:`WORKERS_PER_CORE` per core."""
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


def work_dir(base: Path) -> Path:
    """Every job's working directory (the server runs there too, so spawned children inherit it)."""
    path = base / "work"
    path.mkdir(parents=True, exist_ok=True)
    return path


def substitute(command: list[str], parameters: dict[str, str]) -> list[str]:
    """Replace whole-argument ``Ref::name`` elements with ``parameters[name]`` (others stay as they are)."""
    out = []
    for arg in command:
        if arg.startswith("Ref::") and arg[5:] in parameters:
            out.append(str(parameters[arg[5:]]))
        else:
            out.append(arg)
    return out


def retry_action(rules: list[dict[str, str]], exit_code: int | None, status_reason: str, reason: str) -> str:
    """``RETRY`` or ``EXIT`` for a failed attempt, per Batch's ``evaluateOnExit`` (first match wins).

    A rule matches when every condition it names matches (glob patterns, ``*`` as in Batch); when no
    rule matches, Batch retries.
    """
    for rule in rules:
        checks = []
        if "onExitCode" in rule:
            checks.append(exit_code is not None and fnmatch.fnmatchcase(str(exit_code), rule["onExitCode"]))
        if "onStatusReason" in rule:
            checks.append(fnmatch.fnmatchcase(status_reason or "", rule["onStatusReason"]))
        if "onReason" in rule:
            checks.append(fnmatch.fnmatchcase(reason or "", rule["onReason"]))
        if all(checks):
            return str(rule.get("action", "RETRY")).upper()
    return "RETRY"


def _stopped(job: Any) -> bool:
    """TerminateJob/CancelJob on the job."""
    return bool(job.stop)


def _now_ms() -> int:
    return int(time.time() * 1000)


@cache
def job_class() -> type:
    """A moto ``Job`` whose status is set only by the runner (not advanced by moto's state manager)."""
    from moto.batch.models import Job

    class SandboxJob(Job):  # type: ignore[misc, valid-type]
        @property  # type: ignore[override]
        def status(self) -> str | None:
            return self._status

        @status.setter
        def status(self, value: str) -> None:
            self._status = value

        def _get_container_property(self, p: str, default: Any) -> Any:
            if p != "environment":
                return super()._get_container_property(p, default)
            # moto appends AWS_BATCH_JOB_ID to the override list on every describe; build a fresh list.
            merged = {e["name"]: e["value"] for e in self.job_definition.container_properties.get(p, [])}
            merged.update({e["name"]: e["value"] for e in self.container_overrides.get(p, [])})
            merged["AWS_BATCH_JOB_ID"] = self.job_id
            return [{"name": k, "value": v} for k, v in merged.items()]

        def describe(self) -> dict[str, Any]:
            result = super().describe()
            children = getattr(self, "sandbox_array", None)
            if children is not None:  # counters kept per array job, not a walk over the children
                result["arrayProperties"] = {
                    "statusSummary": children.status_summary(),
                    "size": children.size,
                }
            return result

        def _container_details(self) -> dict[str, Any]:
            details = super()._container_details()
            if self.exit_code is not None:
                details["exitCode"] = self.exit_code
            reason = getattr(self, "sandbox_reason", None)
            if reason:
                details["reason"] = reason
            return details

    return SandboxJob


class BatchRunner:
    """Runs submitted jobs on a bounded thread pool, each attempt as a subprocess."""

    def __init__(self, port: int, base: Path, workers: int | None = None) -> None:
        self.port = port
        self.base = base
        self.pool = ThreadPoolExecutor(
            max_workers=workers or default_workers(), thread_name_prefix="batch-job"
        )
        self.lock = threading.Lock()
        self.workdir = work_dir(base)
        self.workers = workers or default_workers()
        self.child_workers = workers or default_workers() * CHILDREN_PER_WORKER
        self.engine: child_engine.ChildEngine | None = None
        self.faults = faults.Store(base)
        self.lines_per_batch: dict[tuple[str, str, str], int | None] = {}
        self.held: dict[str, tuple[Any, float | None, str]] = {}  # stuck-runnable jobs: job, deadline, reason
        self.held_thread: threading.Thread | None = None
        # for Step Functions' .sync waits in this process (server.py): every job submitted here, and a
        # condition notified whenever one of them ends
        self.submitted: dict[str, Any] = {}
        self.job_ended_condition = threading.Condition()

    def child_engine(self, logs_backend: Any) -> child_engine.ChildEngine:
        with self.lock:
            if self.engine is None:
                self.engine = child_engine.ChildEngine(
                    self.child_workers,
                    self.workdir,
                    layout.jobs_dir(self.base),
                    logs_backend,
                    self._finish_array,
                    self._child_faults,
                )
            return self.engine

    # --- submission (called inside the moto request) --------------------------------------------
    def submit(self, backend: Any, **kw: Any) -> tuple[str, str, str]:
        from moto.batch.exceptions import ClientException

        job_def = backend.get_job_definition(kw["job_def_id"])
        if job_def is None:
            raise ClientException(f"Job definition {kw['job_def_id']} does not exist")
        queue = backend.get_job_queue(kw["job_queue"])
        if queue is None:
            raise ClientException(f"Job queue {kw['job_queue']} does not exist")
        array_properties = kw.get("array_properties") or {}
        size = int(array_properties.get("size", 0) or 0)
        cls = job_class()
        common = {
            "job_def": job_def,
            "job_queue": queue,
            "backend": backend,
            "log_backend": backend.logs_backend,
            "container_overrides": kw.get("container_overrides"),
            "eks_properties_override": kw.get("eks_properties_override"),
            "depends_on": kw.get("depends_on"),
            "all_jobs": backend._jobs,
            "timeout": kw.get("timeout"),
            "parameters": kw.get("parameters"),
        }
        job = cls(kw["job_name"], array_properties=array_properties, tags=kw.get("tags"), **common)
        job.status = "RUNNABLE"
        job.log_stream_name = job_logs.destination(job_def, job.job_id)[1]
        backend._jobs[job.job_id] = job
        self.submitted[job.job_id] = job
        if size:
            job.status = "PENDING"
            job.job_started_at = datetime.datetime.now()
            job.sandbox_array = self._array_job(job, queue, size)
            self.child_engine(backend.logs_backend).add(job.sandbox_array)
        else:
            self.pool.submit(self._guarded, job, queue, None)
        return job.job_name, job.job_id, job.arn

    def _array_job(self, job: Any, queue: Any, size: int) -> array_jobs.ArrayJob:
        """The children's books and what each of them runs (the same for all but the index)."""
        job_def = job.job_definition
        strategy = job_def.retry_strategy or {}
        container = job_def.container_properties or {}
        command = job.container_overrides.get("command") or container.get("command") or []
        command = substitute(list(command), {**job_def.parameters, **job.parameters})
        timeout = (job.timeout or job_def.timeout or {}).get("attemptDurationSeconds")
        group, stream = job_logs.destination(job_def, "")
        children = array_jobs.ArrayJob(
            job,
            size,
            command,
            self._environment(job, queue, None),
            timeout,
            max(1, int(strategy.get("attempts", 1) or 1)),
            strategy.get("evaluateOnExit") or [],
            group,
            stream,
        )
        children.display = item_shortcut.display(command)
        if item_shortcut.is_reader_command(command) and item_shortcut.interpreter_available(
            children.env, item_shortcut.CommandPaths()
        ):
            children.shortcut = item_shortcut.MemoryS3(job.backend.account_id)
            children.display += item_shortcut.SHORTCUT_NOTE
        return children

    # --- faults ---------------------------------------------------------------------------------------
    def _batch_lines(self, account_id: str, bucket: str, key: str) -> int | None:
        """Items in batch 0 of a run (remembered: a run's batches never change)."""
        if (account_id, bucket, key) not in self.lines_per_batch:
            self.lines_per_batch[account_id, bucket, key] = item_shortcut.batch_lines(account_id, bucket, key)
        return self.lines_per_batch[account_id, bucket, key]

    def _fault(
        self, job: Any, parameters: dict[str, str], array_index: int | None, attempt: int
    ) -> faults.JobAction | None:
        """The injected fault acting on this attempt, if any (a ``stat`` when no fault is set)."""
        return self._fault_in(self.faults.active(), job, parameters, array_index, attempt)

    def _fault_in(
        self,
        active: faults.Active,
        job: Any,
        parameters: dict[str, str],
        array_index: int | None,
        attempt: int,
    ) -> faults.JobAction | None:
        if not active.has_job_faults:
            return None
        account_id = job.backend.account_id
        index = faults.item_index(
            parameters, array_index, lambda bucket, key: self._batch_lines(account_id, bucket, key)
        )
        return active.job_action(index, attempt)

    def _child_faults(self) -> child_engine.FaultLookup | None:
        """The faults in force for the array children the engine starts in one step (one ``stat`` of
        the faults file per step, not per child); None when no fault acts on jobs."""
        active = self.faults.active()
        if not active.has_job_faults:
            return None

        def fault_for(children: array_jobs.ArrayJob, index: int, attempt: int) -> faults.JobAction | None:
            parent = children.parent
            parameters = {**parent.job_definition.parameters, **parent.parameters}
            return self._fault_in(active, parent, parameters, index, attempt)

        return fault_for

    def _hold(self, job: Any, queue: Any, fault: faults.JobAction) -> None:
        """``stuck-runnable``: the job stays RUNNABLE with Batch's capacity reason until its queue's
        ``jobStateTimeLimitActions`` cancel it (sandbox gap 20), or CancelJob/TerminateJob stops it."""
        job.status = "RUNNABLE"
        job.job_stopped_reason = fault.status_reason  # moto shows it as statusReason
        limit = compat.time_limit_action(queue, fault.status_reason)
        self._append_log(job, [fault.log_line])
        with self.lock:
            self.held[job.job_id] = (
                job,
                None if limit is None else time.monotonic() + limit[0],
                limit[1] if limit else "",
            )
            if self.held_thread is None:
                self.held_thread = threading.Thread(target=self._watch_held, name="batch-held", daemon=True)
                self.held_thread.start()

    def _watch_held(self) -> None:
        """Ends held jobs when stopped or when their time limit passes; exits when none is held."""
        while True:
            time.sleep(POLL_SECONDS)
            with self.lock:
                if not self.held:
                    self.held_thread = None
                    return
                held = list(self.held.items())
            now = time.monotonic()
            for job_id, (job, deadline, cancel_reason) in held:
                stopped, expired = _stopped(job), deadline is not None and now >= deadline
                if not (stopped or expired):
                    continue
                with self.lock:
                    self.held.pop(job_id, None)
                if stopped:
                    self._finish(job, success=False, reason=job.job_stopped_reason or "Job terminated")
                    continue
                try:
                    self._append_log(job, [f"sandbox fault: {faults.STUCK_RUNNABLE}: {cancel_reason}"])
                except Exception:  # a log line never keeps a job from ending
                    log.exception("sandbox: could not log the cancel of job %s", job_id)
                self._finish(job, success=False, reason=cancel_reason)

    def _append_log(self, job: Any, lines: list[str]) -> None:
        with self.log_path(job.job_id).open("a", encoding="utf-8") as out:
            out.writelines(f"{line}\n" for line in lines)
        group, stream = job_logs.destination(job.job_definition, job.job_id)
        job_logs.publish(job._log_backend, group, stream, lines)

    def _finish_array(self, children: array_jobs.ArrayJob) -> None:
        failed = children.counts[array_jobs.FAILED]
        self._finish(
            children.parent,
            success=failed == 0,
            reason=None if failed == 0 else f"{failed} of {children.size} child jobs failed",
        )

    # --- execution (pool threads) ----------------------------------------------------------------
    def _guarded(self, job: Any, queue: Any, index: int | None) -> None:
        try:
            self._run_job(job, queue, index)
        except Exception as err:  # never lose a job: a runner bug fails the job visibly
            log.exception("sandbox runner failed on job %s", job.job_id)
            job.sandbox_reason = f"sandbox runner error: {err}"
            self._finish(job, success=False, reason=f"sandbox runner error: {err}")

    def log_path(self, job_id: str) -> Path:
        return layout.jobs_dir(self.base) / f"{job_id}.log"

    def _run_job(self, job: Any, queue: Any, index: int | None) -> None:
        job_def = job.job_definition
        strategy = job_def.retry_strategy or {}
        attempts = max(1, int(strategy.get("attempts", 1) or 1))
        rules = strategy.get("evaluateOnExit") or []
        container = job_def.container_properties or {}
        command = job.container_overrides.get("command") or container.get("command") or []
        parameters = {**job_def.parameters, **job.parameters}
        command = substitute(list(command), parameters)
        timeout = (job.timeout or job_def.timeout or {}).get("attemptDurationSeconds")
        env = self._environment(job, queue, index)
        job.job_started_at = datetime.datetime.now()
        for attempt in range(1, attempts + 1):
            if _stopped(job):
                break
            fault = self._fault(job, parameters, index, attempt)
            if fault is not None and fault.kind == faults.STUCK_RUNNABLE:
                self._hold(job, queue, fault)
                return
            job.status = "STARTING"
            env["AWS_BATCH_JOB_ATTEMPT"] = str(attempt)
            started = _now_ms()
            job.status = "RUNNING"
            with self._output_published(job):
                exit_code, status_reason, reason = self._execute_attempt(
                    job, command, env, timeout, attempt, fault
                )
            job.exit_code = exit_code
            job.sandbox_reason = reason
            job.attempts.append(
                {
                    "container": {
                        "exitCode": exit_code,
                        "logStreamName": job.log_stream_name,
                        **({"reason": reason} if reason else {}),
                    },
                    "startedAt": started,
                    "stoppedAt": _now_ms(),
                    "statusReason": status_reason,
                }
            )
            if exit_code == 0:
                self._finish(job, success=True, reason=None)
                return
            final = (
                _stopped(job)
                or attempt == attempts
                or retry_action(rules, exit_code, status_reason, reason) == "EXIT"
            )
            if final:
                self._finish(job, success=False, reason=job.job_stopped_reason or status_reason)
                return
            job.status = "RUNNABLE"
        self._finish(job, success=False, reason=job.job_stopped_reason or "Job terminated")

    def _environment(self, job: Any, queue: Any, index: int | None) -> dict[str, str]:
        container_env = {e["name"]: e["value"] for e in job._get_container_property("environment", [])}
        environments = getattr(queue, "environments", None) or []
        ce_name = getattr(environments[0], "name", "") if environments else ""
        region = getattr(job.job_definition, "_region", layout.DEFAULT_REGION)
        python_dirs = [str(repo_root() / "lambda" / "job")]
        venv_bin = str(Path(sys.executable).parent)
        env = layout.clean_env(
            {
                **container_env,
                **layout.sandbox_credentials_env(self.port, region),
                "AWS_BATCH_JOB_ID": job.job_id,
                "AWS_BATCH_JQ_NAME": queue.name,
                "AWS_BATCH_CE_NAME": ce_name,
                "PYTHONPATH": os.pathsep.join(python_dirs),
                "PYTHONDONTWRITEBYTECODE": "1",
                "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "/usr/bin:/bin")]),
            }
        )
        if index is not None:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
        return env

    @contextlib.contextmanager
    def _output_published(self, job: Any) -> Iterator[None]:
        """What an attempt appends to the job's log file also goes to CloudWatch Logs, as the awslogs
        driver would put it there."""
        path = self.log_path(job.job_id)
        start = path.stat().st_size if path.exists() else 0
        try:
            yield
        finally:
            with path.open("rb") as written:
                written.seek(start)
                lines = written.read().decode(errors="replace").splitlines()
            group, stream = job_logs.destination(job.job_definition, job.job_id)
            job_logs.publish(job._log_backend, group, stream, lines)

    def _execute_attempt(
        self,
        job: Any,
        command: list[str],
        env: dict[str, str],
        timeout: float | None,
        attempt: int,
        fault: faults.JobAction | None = None,
    ) -> tuple[int | None, str, str]:
        """One attempt; returns (exit code, statusReason, container reason)."""
        path = self.log_path(job.job_id)
        with path.open("ab") as out:
            out.write(f"--- attempt {attempt}: {command}\n".encode())
            out.flush()
            if fault is not None:  # an injected fault ends the attempt instead of the command
                out.write(f"{fault.log_line}\n".encode())
                if fault.exit_code is not None:
                    out.write(f"--- exit code {fault.exit_code}\n".encode())
                return fault.exit_code, fault.status_reason, ""
            if not command:
                return None, "CannotStartContainerError", "CannotStartContainerError: the job has no command"
            try:
                proc = layout.start_process(command, out, env, self.workdir)
            except OSError as err:
                out.write(f"cannot start: {err}\n".encode())
                return 127, EXIT_REASON, f"CannotStartContainerError: {err}"
            deadline = time.monotonic() + float(timeout) if timeout else None
            while True:
                try:
                    code = proc.wait(timeout=POLL_SECONDS)
                    out.write(f"--- exit code {code}\n".encode())
                    return code, EXIT_REASON, ""
                except subprocess.TimeoutExpired:
                    pass
                if _stopped(job) or (deadline and time.monotonic() > deadline):
                    _kill(proc)
                    if _stopped(job):
                        out.write(f"--- terminated: {job.job_stopped_reason}\n".encode())
                        return proc.returncode, job.job_stopped_reason or "Terminated", ""
                    out.write(f"--- killed after {timeout} s (attempt timeout)\n".encode())
                    return proc.returncode, TIMEOUT_REASON, ""

    def _finish(self, job: Any, success: bool, reason: str | None) -> None:
        job.job_stopped_at = datetime.datetime.now()
        job.job_stopped = True
        if not success and reason:
            job.job_stopped_reason = reason
        job.status = "SUCCEEDED" if success else "FAILED"
        with self.job_ended_condition:
            self.job_ended_condition.notify_all()

    # --- .sync waits (Step Functions' threads in this process) ----------------------------------------
    def job_ended(self, job_id: str) -> bool | None:
        """Whether a job submitted here has SUCCEEDED or FAILED; None for a job this runner never saw."""
        job = self.submitted.get(job_id)
        return None if job is None else job.status in BATCH_ENDED_STATUSES

    def wait_for_end(self, job_id: str, seconds: float) -> None:
        """Sleep ``seconds``, or less if the job ends meanwhile (the whole pause for a job never seen)."""
        with self.job_ended_condition:
            self.job_ended_condition.wait_for(lambda: bool(self.job_ended(job_id)), seconds)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def install(port: int, base: Path, workers: int | None = None) -> BatchRunner:
    """Make moto's no-Docker Batch backend run real jobs (patches ``BatchSimpleBackend.submit_job``)."""
    from moto.batch.models import Job
    from moto.batch_simple.models import BatchSimpleBackend

    global ACTIVE
    runner = BatchRunner(port, base, workers)
    ACTIVE = runner

    def submit_job(
        self: Any,
        job_name: str,
        job_def_id: str,
        job_queue: str,
        array_properties: dict[str, Any],
        depends_on: list[dict[str, str]] | None = None,
        container_overrides: dict[str, Any] | None = None,
        eks_properties_override: dict[str, Any] | None = None,
        timeout: dict[str, int] | None = None,
        parameters: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> tuple[str, str, str]:
        if runner.faults.take(faults.SUBMIT_THROTTLE) is not None:
            log.warning("sandbox fault: %s: SubmitJob %s answered 429", faults.SUBMIT_THROTTLE, job_name)
            raise faults.too_many_requests(f"Too Many Requests (sandbox fault: {faults.SUBMIT_THROTTLE})")
        return runner.submit(
            self.backend,
            job_name=job_name,
            job_def_id=job_def_id,
            job_queue=job_queue,
            array_properties=array_properties,
            depends_on=depends_on,
            container_overrides=container_overrides,
            eks_properties_override=eks_properties_override,
            timeout=timeout,
            parameters=parameters,
            tags=tags,
        )

    compat.patch_attribute(BatchSimpleBackend, "submit_job", submit_job)
    compat.patch_attribute(Job, "terminate", _terminate)
    install_array_views(runner)
    return runner


def _terminate(job: Any, reason: str) -> None:
    """``Job.terminate`` (what TerminateJob and CancelJob call) with the reason set before ``stop``:
    moto sets ``stop`` first, and a runner thread that saw it in between ended the job with no reason,
    hiding the caller's. An ended job is left as it is: TerminateJob does not change it
    (https://docs.aws.amazon.com/batch/latest/APIReference/API_TerminateJob.html)."""
    if job.stop or job.status in BATCH_ENDED_STATUSES:
        return
    job.job_stopped_reason = reason
    job.stop = True


def install_array_views(runner: BatchRunner) -> None:
    """DescribeJobs, ListJobs(arrayJobId), TerminateJob and CancelJob for children kept in an
    :class:`~fanout_tools.sandbox.array_jobs.ArrayJob` (they are not in moto's job table)."""
    from moto.batch.exceptions import ClientException
    from moto.batch.models import BatchBackend

    describe_before = BatchBackend.describe_jobs
    list_before = BatchBackend.list_jobs
    terminate_before = BatchBackend.terminate_job
    cancel_before = BatchBackend.cancel_job

    def describe_jobs(self: Any, jobs: list[str] | None = None) -> list[dict[str, Any]]:
        if not jobs:
            return list(describe_before(self, jobs))
        result: list[dict[str, Any]] = []
        parents: dict[str, dict[str, Any]] = {}
        for identifier in jobs:
            found = array_jobs.child_of(self, identifier)
            if found is None:
                result.extend(describe_before(self, [identifier]))
                continue
            children, index = found
            parent_id = children.parent.job_id
            if parent_id not in parents:
                parents[parent_id] = children.parent.describe()
            result.append(children.describe(index, parents[parent_id]))
        return result

    def list_jobs(
        self: Any,
        job_queue_name: str | None,
        array_job_id: str | None,
        job_status: str | None = None,
        filters: list[dict[str, Any]] | None = None,
    ) -> list[Any]:
        parent = self.get_job_by_id(array_job_id) if array_job_id else None
        children = getattr(parent, "sandbox_array", None)
        if children is None:
            return list(list_before(self, job_queue_name, array_job_id, job_status, filters))
        if job_status is not None and filters is None and job_status not in array_jobs.STATUSES:
            raise ClientException(f"Job status is not one of {' | '.join(array_jobs.STATUSES)}")
        found = list(list_before(self, job_queue_name, None, job_status, filters)) if job_queue_name else []
        # as moto: jobStatus is ignored when filters are given; a JOB_NAME filter is the parent's name
        views = array_jobs.children(children, job_status if filters is None else None)
        if filters is not None and not _name_matches(parent.job_name, filters):
            views = []
        return found + views

    def terminate_job(self: Any, job_id: str, reason: str) -> None:
        found = array_jobs.child_of(self, job_id) if job_id and reason else None
        if found is None:
            terminate_before(self, job_id, reason)
        else:
            children, index = found
            children.stop_requests.setdefault(index, reason)
        if runner.engine is not None:
            runner.engine.wake()

    def cancel_job(self: Any, job_id: str, reason: str) -> None:
        found = array_jobs.child_of(self, job_id) if job_id and reason else None
        if found is None:
            cancel_before(self, job_id, reason)
        else:  # CancelJob stops only a child that has not started
            children, index = found
            if children.status[index] <= array_jobs.RUNNABLE:
                children.stop_requests.setdefault(index, reason)
        if runner.engine is not None:
            runner.engine.wake()

    compat.patch_attribute(BatchBackend, "describe_jobs", describe_jobs)
    compat.patch_attribute(BatchBackend, "list_jobs", list_jobs)
    compat.patch_attribute(BatchBackend, "terminate_job", terminate_job)
    compat.patch_attribute(BatchBackend, "cancel_job", cancel_job)


def _name_matches(name: str, filters: list[dict[str, Any]]) -> bool:
    """moto's JOB_NAME filter (exact, or a prefix ending in ``*``; other filters match everything)."""
    for item in filters:
        if item.get("name") != "JOB_NAME":
            return True
        for value in item.get("values") or []:
            if value.endswith("*") and name.lower().startswith(value[:-1].lower()):
                return True
            if name.lower() == value.lower():
                return True
    return False


ACTIVE: BatchRunner | None = None  # the runner :func:`install` made last (one per sandbox server)
