"""Array children as host processes: one thread decides what runs, waits for it and keeps the books;
the spawn helper (or, without a C compiler, launcher threads) starts the processes.

Each child attempt is a real process (``vfork`` or ``posix_spawn``: no copy of the server's memory,
no Python in between) with the child's own environment, its output in ``<jobs dir>/<child id>.log`` and in
CloudWatch Logs, and its exit code deciding the child's fate under the job definition's retry
strategy. Nothing polls per child: the thread sleeps in epoll until a process starts or exits, a
deadline passes, or new work or a stop arrives. At most ``workers`` processes run at once (the compute
environment's capacity, in effect).

Two ways to start them, with the same books:
- :mod:`fanout_tools.sandbox.spawn_helper` (the default): small C programs (one per core, up to 4)
  start, capture and reap the processes; the engine writes a step's starts in one message batch and
  reads all ends since its last step in one read, so the server spends no system call per child.
- launcher threads (:mod:`fanout_tools.sandbox.host_spawn`): libc's ``posix_spawn`` through ctypes,
  with the GIL released while it waits for the child's exec; every running process has a pidfd in the
  engine's epoll set.

When the command is the inline item reader (:mod:`fanout_tools.sandbox.item_shortcut`) the item is
read in process and only the user's command is started. An injected fault
(:mod:`fanout_tools.sandbox.faults`) ends a child's attempt instead of its command, or holds the child
RUNNABLE until its queue's ``jobStateTimeLimitActions`` cancel it.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import os
import queue
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fanout_tools.sandbox import array_jobs, compat, faults, host_spawn, item_shortcut, job_logs, spawn_helper

log = logging.getLogger(__name__)

TIMEOUT_REASON = "Job attempt duration exceeded timeout"
MAX_LAUNCHERS = 8  # threads starting processes side by side (at most one per worker)
IDLE_WAKE_SECONDS = 0.1  # how soon a TerminateJob on a running parent is noticed
# what differs between the children of one array job (the rest of their environment is the parent's)
CHILD_VARIABLES = ("AWS_BATCH_JOB_ID", "AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ATTEMPT")
OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


def _now_ms() -> int:
    return int(time.time() * 1000)


class Attempt:
    __slots__ = (
        "array",
        "deadline",
        "fd",
        "header",
        "helper",
        "index",
        "killed",
        "number",
        "path",
        "pid",
        "pidfd",
        "started",
        "token",
    )

    def __init__(self, array_job: array_jobs.ArrayJob, index: int, number: int) -> None:
        self.array = array_job
        self.index = index
        self.number = number
        self.pid = 0
        self.pidfd = -1
        self.token = 0  # the spawn helper's name for it
        self.helper: spawn_helper.SpawnHelper | None = None  # the helper that starts it
        self.path = ""
        self.fd = -1  # its output (launcher threads only; the helper captures it itself)
        self.header = b""
        self.started = 0
        self.deadline: float | None = None
        self.killed = ""  # why the process was killed: "" | "timeout" | the stop reason


class Held:
    """A child the ``stuck-runnable`` fault keeps RUNNABLE: until ``deadline`` (monotonic; None = for
    ever), when its queue's jobStateTimeLimitActions cancel it with ``cancel_reason``."""

    __slots__ = ("array", "cancel_reason", "deadline", "index")

    def __init__(
        self, array_job: array_jobs.ArrayJob, index: int, deadline: float | None, cancel_reason: str
    ) -> None:
        self.array = array_job
        self.index = index
        self.deadline = deadline
        self.cancel_reason = cancel_reason


FaultLookup = Callable[[array_jobs.ArrayJob, int, int], faults.JobAction | None]
FaultsNow = Callable[[], FaultLookup | None]


class ChildEngine:
    """Runs the children of every array job handed to :meth:`add`; ``finish_parent`` is called (on
    the engine thread) once all children of an array job are SUCCEEDED or FAILED."""

    def __init__(
        self,
        workers: int,
        workdir: Path,
        jobs_dir: Path,
        logs_backend: Any,
        finish_parent: Any,
        faults_now: FaultsNow | None = None,
    ) -> None:
        self.workers = max(1, workers)
        self.workdir = str(workdir)
        self.jobs_dir = jobs_dir
        self.logs_backend = logs_backend
        self.finish_parent = finish_parent
        # the faults in force now: None when none acts on jobs, else (array job, child index, attempt)
        # -> the injected fault, if any; asked once per engine step, not per child
        self.faults_now = faults_now
        self.held: list[Held] = []
        self.arrays: deque[array_jobs.ArrayJob] = deque()  # with children still to start
        self.active: list[array_jobs.ArrayJob] = []  # not finished yet
        self.incoming: deque[array_jobs.ArrayJob] = deque()
        self.running: dict[int, Attempt] = {}  # helper token (or pidfd) -> attempt
        self.paths = item_shortcut.CommandPaths()
        self.epoll = select.epoll()
        self.wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.epoll.register(self.wake_fd, select.EPOLLIN)
        self.thread: threading.Thread | None = None
        self.helpers: dict[int, spawn_helper.SpawnHelper] = {}  # by the descriptor its reports come on
        self.launched: dict[int, Attempt] = {}  # helper token -> attempt handed to a helper
        self.next_token = 1
        self.launchers_started = False
        self.to_launch: queue.SimpleQueue[tuple[Attempt, host_spawn.Process]] = queue.SimpleQueue()
        self.launching = 0  # handed to a launcher, not back yet
        self.started: dict[int, Attempt] = {}  # pidfd -> attempt: started by a launcher, not yet taken
        self.failed_launches: deque[tuple[Attempt, Exception]] = deque()
        self.lock = threading.Lock()
        self.started_children = 0
        # children's log lines not yet in CloudWatch Logs: (group, stream, timestamp ms, lines)
        self.pending_logs: list[tuple[str, str, int, list[str]]] = []

    # --- any thread ---------------------------------------------------------------------------------
    def add(self, array_job: array_jobs.ArrayJob) -> None:
        with self.lock:
            self.incoming.append(array_job)
            if self.thread is None:
                program = spawn_helper.program()
                if program is not None:
                    for _ in range(min(self.workers, spawn_helper.HELPERS)):
                        helper = spawn_helper.SpawnHelper(program)
                        self.helpers[helper.fd] = helper
                        self.epoll.register(helper.fd, select.EPOLLIN)
                else:
                    self._start_launchers()
                self.thread = threading.Thread(target=self._loop, name="batch-children", daemon=True)
                self.thread.start()
        self.wake()

    def _start_launchers(self) -> None:
        if self.launchers_started:
            return
        self.launchers_started = True
        for number in range(min(self.workers, MAX_LAUNCHERS)):
            name = f"batch-launcher-{number}"
            threading.Thread(target=self._launch_loop, name=name, daemon=True).start()

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            os.eventfd_write(self.wake_fd, 1)

    # --- the engine thread ------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            try:
                self._step()
            except Exception:  # never let the thread die: log and keep serving the other children
                log.exception("sandbox child engine error")
                time.sleep(0.1)

    def _step(self) -> None:
        with self.lock:
            while self.incoming:
                new = self.incoming.popleft()
                self.arrays.append(new)
                self.active.append(new)
        self._take_started()
        self._apply_stops()
        self._check_held()
        self._start_more()
        self._flush_helper()
        timeout = self._wait_seconds()
        events = self.epoll.poll(timeout)
        self._take_started()  # an exited process's pidfd was registered after it was put there
        for fd, _ in events:
            if fd == self.wake_fd:
                with contextlib.suppress(BlockingIOError):
                    os.eventfd_read(self.wake_fd)
                continue
            helper = self.helpers.get(fd)
            if helper is not None:
                self._take_helper_events(helper)
                continue
            attempt = self.running.pop(fd, None)
            if attempt is None:
                continue
            try:
                self._reap(attempt)
            except Exception as err:
                self._runner_failed(attempt.array, attempt.index, err, attempt.fd)
        self._check_deadlines()
        self._flush_helper()
        self._flush_logs()

    # --- the spawn helper ----------------------------------------------------------------------------
    def _flush_helper(self) -> None:
        try:
            for helper in self.helpers.values():
                helper.flush()
        except OSError as err:
            self._helper_lost(err)

    def _take_helper_events(self, helper: spawn_helper.SpawnHelper) -> None:
        """Books for what a helper reported: processes started, not started, and ended."""
        try:
            events = helper.events()
        except OSError as err:
            self._helper_lost(err)
            return
        for event in events:
            if isinstance(event, spawn_helper.Ended):
                attempt = self.launched.pop(event.token, None)
                if attempt is None:
                    continue
                helper.outstanding -= 1
                self.running.pop(event.token, None)
                try:
                    self._ended(attempt, event.wait_status, event.output)
                except Exception as err:
                    self._runner_failed(attempt.array, attempt.index, err)
            elif isinstance(event, spawn_helper.Started):
                attempt = self.launched[event.token]
                attempt.pid = event.pid
                self.launching -= 1
                self._running(attempt, event.token)
            else:
                attempt = self.launched.pop(event.token)
                helper.outstanding -= 1
                self.launching -= 1
                error = OSError(event.errno, os.strerror(event.errno), attempt.path)
                self._cannot_start(attempt, error, b"")

    def _helper_lost(self, error: OSError) -> None:
        """A helper died (it never should): the children of every helper are killed (no longer watched,
        they would run on unseen) and fail visibly, and later ones start from launcher threads."""
        log.error("sandbox spawn helper lost: %s", error)
        helpers, self.helpers = self.helpers, {}
        for helper in helpers.values():
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(helper.fd)
            with contextlib.suppress(OSError):
                helper.close()
        self._start_launchers()
        for token, attempt in list(self.launched.items()):
            attempt.helper = None  # gone: it is killed here, by its process group
            if token not in self.running:
                self.launching -= 1
            elif attempt.pid:
                self._kill(attempt)
            self.running.pop(token, None)
            self._runner_failed(attempt.array, attempt.index, error)
        self.launched.clear()

    def _flush_logs(self) -> None:
        """Publish the children's pending log lines: one call per log group for all the children that
        ended in this step, not one per child."""
        if not self.pending_logs:
            return
        pending, self.pending_logs = self.pending_logs, []
        by_group: dict[str, list[tuple[str, int, list[str]]]] = {}
        for group, stream, timestamp, lines in pending:
            by_group.setdefault(group, []).append((stream, timestamp, lines))
        for group, entries in by_group.items():
            job_logs.publish_many(self.logs_backend, group, entries)

    def _wait_seconds(self) -> float:
        if not self.active:
            return -1  # nothing to watch: sleep until add() wakes us
        wait = IDLE_WAKE_SECONDS
        now = time.monotonic()
        for attempt in self.running.values():
            if attempt.deadline is not None:
                wait = min(wait, max(0.0, attempt.deadline - now))
        for held in self.held:
            if held.deadline is not None:
                wait = min(wait, max(0.0, held.deadline - now))
        return wait

    def _stop_reason(self, array_job: array_jobs.ArrayJob, index: int) -> str | None:
        parent = array_job.parent
        if parent.stop:
            return parent.job_stopped_reason or "Job terminated"
        return array_job.stop_requests.get(index)

    def _apply_stops(self) -> None:
        for attempt in self.running.values():
            if not attempt.killed:
                reason = self._stop_reason(attempt.array, attempt.index)
                if reason is not None:
                    attempt.killed = reason
                    self._kill(attempt)
        for array_job in list(self.active):
            if array_job.parent.stop or array_job.stop_requests:
                self._fail_unstarted(array_job)

    def _fail_unstarted(self, array_job: array_jobs.ArrayJob) -> None:
        """Children a stop reached before they started: FAILED without running (as Batch does)."""
        if array_job.parent.stop:
            reason = array_job.parent.job_stopped_reason or "Job terminated"
            while array_job.retries:
                index, _ = array_job.retries.popleft()
                self._final(array_job, index, success=False, reason=reason)
            while array_job.next_index < array_job.size:
                array_job.next_index += 1
                self._final(array_job, array_job.next_index - 1, success=False, reason=reason)
            return
        for index, reason in list(array_job.stop_requests.items()):
            if array_job.status[index] == array_jobs.RUNNABLE and not self._is_running(array_job, index):
                array_job.retries = deque((i, n) for i, n in array_job.retries if i != index)
                self._final(array_job, index, success=False, reason=reason)

    def _is_running(self, array_job: array_jobs.ArrayJob, index: int) -> bool:
        return any(a.array is array_job and a.index == index for a in self.running.values())

    def _start_more(self) -> None:
        fault_for: FaultLookup | None = None
        faults_read = False
        while len(self.running) + self.launching < self.workers and self.arrays:
            array_job = self.arrays[0]
            picked = array_job.next_child()
            if picked is None:
                self.arrays.popleft()
                continue
            index, number = picked
            if array_job.status[index] != array_jobs.RUNNABLE:  # finished by a stop meanwhile
                continue
            if array_job.stop_requests.get(index) is not None:
                self._final(array_job, index, success=False, reason=array_job.stop_requests[index])
                continue
            if not faults_read:  # once per step, and only when a child starts
                faults_read = True
                fault_for = self.faults_now() if self.faults_now is not None else None
            fault = fault_for(array_job, index, number) if fault_for is not None else None
            if fault is not None and fault.kind == faults.STUCK_RUNNABLE:
                self._hold(array_job, index, fault)
                continue
            try:
                self._start(array_job, index, number, fault)
            except Exception as err:
                self._runner_failed(array_job, index, err)

    def _hold(self, array_job: array_jobs.ArrayJob, index: int, fault: faults.JobAction) -> None:
        """``stuck-runnable``: RUNNABLE with Batch's capacity reason, cancelled by the queue's
        jobStateTimeLimitActions (sandbox gap 20) or by a stop (:meth:`_check_held`)."""
        array_job.reasons[index] = fault.status_reason
        limit = compat.time_limit_action(array_job.parent.job_queue, fault.status_reason)
        deadline = None if limit is None else time.monotonic() + limit[0]
        self.held.append(Held(array_job, index, deadline, limit[1] if limit else ""))
        self._append_log(array_job, index, [fault.log_line])

    def _check_held(self) -> None:
        now = time.monotonic()
        for held in list(self.held):
            array_job, index = held.array, held.index
            if array_job.status[index] != array_jobs.RUNNABLE:  # a CancelJob on the child ended it
                self.held.remove(held)
                continue
            reason = self._stop_reason(array_job, index)
            if reason is None and held.deadline is not None and now >= held.deadline:
                reason = held.cancel_reason
                try:
                    self._append_log(array_job, index, [f"sandbox fault: {faults.STUCK_RUNNABLE}: {reason}"])
                except Exception:  # a log line never keeps a child from ending
                    log.exception("sandbox: could not log the cancel of child %s", array_job.child_id(index))
            if reason is not None:
                self.held.remove(held)
                self._final(array_job, index, success=False, reason=reason)

    def _append_log(self, array_job: array_jobs.ArrayJob, index: int, lines: list[str]) -> None:
        data = "".join(f"{line}\n" for line in lines).encode()
        log_fd = os.open(self.jobs_dir / f"{array_job.child_id(index)}.log", OPEN_FLAGS, 0o644)
        try:
            os.write(log_fd, data)
        finally:
            os.close(log_fd)
        job_logs.publish(self.logs_backend, array_job.log_group, array_job.stream(index), lines)

    def _start(
        self, array_job: array_jobs.ArrayJob, index: int, number: int, fault: faults.JobAction | None = None
    ) -> None:
        env = array_job.env
        attempt = Attempt(array_job, index, number)
        attempt.header = f"--- attempt {number}: {array_job.display}\n".encode()
        array_job.set_status(index, array_jobs.STARTING)
        attempt.started = _now_ms()
        self.started_children += 1
        if fault is not None:  # an injected fault ends the attempt instead of the command
            self._done(
                attempt, fault.exit_code, fault.status_reason, "", printed=f"{fault.log_line}\n".encode()
            )
            return
        command = array_job.command
        if not command:
            self._done(
                attempt,
                None,
                "CannotStartContainerError",
                "CannotStartContainerError: the job has no command",
            )
            return
        extra: list[str] = []
        if array_job.shortcut is not None:
            resolved = item_shortcut.resolve(command, index, array_job.shortcut, env, self.paths)
            if resolved.argv is None:
                self._done(
                    attempt, resolved.exit_code, array_jobs.EXIT_REASON, "", printed=resolved.message.encode()
                )
                return
            argv, path, extra = resolved.argv[:-1], resolved.path, resolved.argv[-1:]
        else:
            argv, path = command, self.paths(command[0], env.get("PATH", os.defpath))
            if path is None:
                printed = f"cannot start: [Errno 2] No such file or directory: {command[0]!r}\n".encode()
                self._done(
                    attempt,
                    127,
                    array_jobs.EXIT_REASON,
                    f"CannotStartContainerError: {command[0]}: not found",
                    printed=printed,
                )
                return
        assert path is not None
        attempt.path = str(path)
        if array_job.environment is None:
            array_job.environment = host_spawn.Environment(env, CHILD_VARIABLES)
        values = (array_job.child_id(index), str(index), str(number))
        self.launching += 1
        if self.helpers:
            helper = min(self.helpers.values(), key=operator.attrgetter("outstanding"))
            template = helper.template(array_job.environment, attempt.path, argv, self.workdir)
            attempt.token = self.next_token
            attempt.helper = helper
            self.next_token += 1
            self.launched[attempt.token] = attempt
            helper.outstanding += 1
            helper.start(attempt.token, template, values, extra)
            return
        # Started by a launcher thread: glibc's posix_spawn returns only once the child has exec'd,
        # and the launchers wait for that side by side (the GIL released) while this thread goes on.
        # Output goes to a memfd: a child that succeeds silently needs no file.
        attempt.fd = os.memfd_create(array_job.child_id(index), os.MFD_CLOEXEC)
        process = host_spawn.Process(
            attempt.path, [*argv, *extra], array_job.environment, values, attempt.fd, self.workdir
        )
        self.to_launch.put((attempt, process))

    def _launch_loop(self) -> None:
        """A launcher thread: start each process handed to it and put its pidfd in the engine's epoll
        set (the engine takes it from ``started`` at its next step, or when it exits)."""
        spawner = host_spawn.spawner()
        while True:
            attempt, process = self.to_launch.get()
            try:
                attempt.pid = spawner.start(process)
                attempt.pidfd = _pidfd(attempt.pid)
            except Exception as err:  # the engine thread fails the child with it
                self.failed_launches.append((attempt, err))
                self.wake()
                continue
            self.started[attempt.pidfd] = attempt
            self.epoll.register(attempt.pidfd, select.EPOLLIN)

    def _take_started(self) -> None:
        """Books for the processes the launchers started, and for those they could not start."""
        while self.started:
            pidfd, attempt = self.started.popitem()
            self.launching -= 1
            self._running(attempt, pidfd)
        while self.failed_launches:
            attempt, error = self.failed_launches.popleft()
            self.launching -= 1
            if isinstance(error, OSError):
                self._cannot_start(attempt, error, _output(attempt))
            else:
                self._runner_failed(attempt.array, attempt.index, error, attempt.fd)

    def _running(self, attempt: Attempt, key: int) -> None:
        attempt.array.set_status(attempt.index, array_jobs.RUNNING)
        if attempt.array.timeout:
            attempt.deadline = time.monotonic() + float(attempt.array.timeout)
        self.running[key] = attempt
        if attempt.killed:  # stopped while it was starting
            self._kill(attempt)

    def _cannot_start(self, attempt: Attempt, error: OSError, printed: bytes) -> None:
        printed += f"cannot start: {error}\n".encode()
        self._done(
            attempt, 127, array_jobs.EXIT_REASON, f"CannotStartContainerError: {error}", printed=printed
        )

    def _runner_failed(
        self, array_job: array_jobs.ArrayJob, index: int, error: BaseException, fd: int = -1
    ) -> None:
        """A runner bug fails the child visibly (its reason names the error), never loses it."""
        log.error("sandbox runner failed on child %s", array_job.child_id(index), exc_info=error)
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._final(array_job, index, success=False, reason=f"sandbox runner error: {error}")

    def _kill(self, attempt: Attempt) -> None:
        if attempt.helper is not None:
            attempt.helper.kill(attempt.token)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(attempt.pid, signal.SIGKILL)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for attempt in self.running.values():
            if attempt.deadline is not None and now > attempt.deadline and not attempt.killed:
                attempt.killed = "timeout"
                self._kill(attempt)

    def _reap(self, attempt: Attempt) -> None:
        self.epoll.unregister(attempt.pidfd)
        os.close(attempt.pidfd)
        _, status = os.waitpid(attempt.pid, 0)
        self._ended(attempt, status, _output(attempt))

    def _ended(self, attempt: Attempt, wait_status: int, printed: bytes) -> None:
        """A process ended with ``wait_status`` after printing ``printed``."""
        code: int | None = os.waitstatus_to_exitcode(wait_status)
        if attempt.killed == "timeout":
            footer = f"--- killed after {attempt.array.timeout} s (attempt timeout)\n"
            self._done(attempt, code, TIMEOUT_REASON, "", footer=footer, printed=printed)
        elif attempt.killed:
            footer = f"--- terminated: {attempt.killed}\n"
            self._done(attempt, code, attempt.killed, "", footer=footer, printed=printed)
        else:
            self._done(attempt, code, array_jobs.EXIT_REASON, "", printed=printed)

    def _done(
        self,
        attempt: Attempt,
        code: int | None,
        status_reason: str,
        reason: str,
        footer: str | None = None,
        printed: bytes = b"",
    ) -> None:
        """Close the attempt's log (also into CloudWatch Logs), record it, retry or finish the child.
        ``printed``: what the attempt printed; ``footer``: the log's last line (default: the exit code,
        when there is one)."""
        array_job, index = attempt.array, attempt.index
        silent = code == 0 and footer is None and not printed and attempt.number == 1
        if footer is None:
            footer = "" if code is None else f"--- exit code {code}\n"
        ended = _now_ms()
        if silent and array_job.silent is not None:
            array_job.silent.add(index, ended)  # no .log file; its stream is made when read
        else:
            data = attempt.header + printed + footer.encode()
            if code != 0 or number_of_lines(data) > 2 or attempt.number > 1:
                log_fd = os.open(self.jobs_dir / f"{array_job.child_id(index)}.log", OPEN_FLAGS, 0o644)
                try:
                    os.write(log_fd, data)
                finally:
                    os.close(log_fd)
            lines = data.decode(errors="replace").splitlines()
            if silent:  # the first silent child: the others' streams hold the same lines
                array_job.silent = job_logs.SilentChildren(
                    array_job.log_group, array_job.streams_prefix(), lines, array_job.size
                )
                job_logs.defer(self.logs_backend, array_job.silent)
                array_job.silent.add(index, ended)
            else:
                self.pending_logs.append((array_job.log_group, array_job.stream(index), ended, lines))
        array_job.record_attempt(index, attempt.number, code, attempt.started, ended, status_reason, reason)
        if code == 0:
            self._final(array_job, index, success=True, reason=None)
            return
        stop = self._stop_reason(array_job, index)
        from fanout_tools.sandbox.batch_runner import retry_action

        final = (
            stop is not None
            or attempt.number >= array_job.max_attempts
            or retry_action(array_job.rules, code, status_reason, reason) == "EXIT"
        )
        if final:
            self._final(array_job, index, success=False, reason=stop or status_reason)
            return
        array_job.set_status(index, array_jobs.RUNNABLE)
        array_job.retries.append((index, attempt.number + 1))
        if array_job not in self.arrays:
            self.arrays.append(array_job)

    def _final(self, array_job: array_jobs.ArrayJob, index: int, success: bool, reason: str | None) -> None:
        if not success and reason:
            array_job.reasons[index] = reason
        if not array_job.stopped[index]:
            array_job.stopped[index] = _now_ms()
        array_job.set_status(index, array_jobs.SUCCEEDED if success else array_jobs.FAILED)
        parent = array_job.parent
        if parent.status == "PENDING":
            parent.status = "RUNNING"
        if array_job.done():
            with contextlib.suppress(ValueError):
                self.active.remove(array_job)
            array_job.shortcut = None  # drop the cached batch
            if array_job.silent is not None:
                array_job.silent.closed = True
            if array_job.environment is not None:
                for helper in self.helpers.values():
                    helper.forget(array_job.environment)
            array_job.environment = None
            self._flush_logs()  # a finished parent's children have their output in CloudWatch Logs
            self.finish_parent(array_job)


def _output(attempt: Attempt) -> bytes:
    """What a launcher thread's process printed (its memfd), the memfd then closed."""
    if attempt.fd < 0:
        return b""
    try:
        end = os.lseek(attempt.fd, 0, os.SEEK_END)
        return os.pread(attempt.fd, end, 0) if end else b""
    finally:
        os.close(attempt.fd)
        attempt.fd = -1


def _pidfd(pid: int) -> int:
    """A pidfd for a process just started; if there is none (no descriptor left), the process is
    killed and reaped, and the error raised."""
    try:
        return os.pidfd_open(pid)
    except OSError:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise


def number_of_lines(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
