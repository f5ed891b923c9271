"""Start, stop and inspect the sandbox's background server (pid, port and log under .fanout/sandbox/)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fanout_tools.errors import SandboxError
from fanout_tools.sandbox import layout

SERVER_MODULE = "fanout_tools.sandbox.server"
PORT_ATTEMPTS = 3
PORT_HINT = "pick another (`fanout sandbox up --port N` or FANOUT_SANDBOX_PORT), or stop what listens there"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class SandboxInfo:
    pid: int
    port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return layout.endpoint_url(self.port)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_our_server(pid: int) -> bool:
    """True when ``pid`` is alive and is a sandbox server (not a recycled pid of something else)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return SERVER_MODULE in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
    return True  # no /proc (macOS): trust the pid file


def servers(home: Path | None = None) -> list[int]:
    """Pids of every sandbox server process serving this sandbox folder (this checkout's, by default),
    found by command line in /proc: ``-m fanout_tools.sandbox.server ... --state-dir <folder>``.

    Normally one (the recorded one) or none; any other is a stray (a start that lost its pid file).
    Without /proc (macOS) only the recorded server can be known.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        info = current(home)
        return [info.pid] if info else []
    state_dir = str(layout.sandbox_dir(home).resolve())
    found: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        words = [word.decode(errors="replace") for word in argv]
        if SERVER_MODULE not in words or "--state-dir" not in words:
            continue
        at = words.index("--state-dir") + 1
        if at < len(words) and str(Path(words[at]).resolve()) == state_dir:
            found.append(int(entry.name))
    return sorted(found)


def strays(home: Path | None = None) -> list[int]:
    """Sandbox servers of this folder other than the recorded one."""
    info = current(home)
    return [pid for pid in servers(home) if info is None or pid != info.pid]


def healthy(port: int, timeout: float = 2.0) -> bool:
    """The server answers and has the sandbox configuration (moto's GET config shows batch/lambda only)."""
    try:
        with urllib.request.urlopen(f"{layout.endpoint_url(port)}/moto-api/config", timeout=timeout) as resp:
            config = json.loads(resp.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return config.get("batch", {}).get("use_docker") is False


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _clear_files(home: Path | None = None) -> None:
    layout.pid_file(home).unlink(missing_ok=True)
    layout.port_file(home).unlink(missing_ok=True)
    layout.code_file(home).unlink(missing_ok=True)
    layout.ready_file(home).unlink(missing_ok=True)


@contextlib.contextmanager
def _exclusive(home: Path | None) -> Iterator[None]:
    """One start or stop at a time per sandbox folder (an flock, released even if we are killed)."""
    with layout.lock_file(home).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current(home: Path | None = None) -> SandboxInfo | None:
    """The running sandbox, or None. A pid file left by a dead server is removed (stale)."""
    pid, port = _read_int(layout.pid_file(home)), _read_int(layout.port_file(home))
    if pid is None and port is None:
        return None
    if pid is None or port is None or not _is_our_server(pid):
        _clear_files(home)
        return None
    return SandboxInfo(pid=pid, port=port, log=layout.server_log(home))


def code_fingerprint() -> str:
    """A digest of the code a sandbox server runs: this package (the server, the compatibility layer,
    the runners) and the job-side reader it runs in process. A server keeps the code it started with."""
    import hashlib

    from fanout_tools.paths import lambda_dir

    digest = hashlib.sha256()
    for folder in (Path(__file__).resolve().parent, lambda_dir() / "job"):
        for path in sorted(folder.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def stale_code_note(home: Path | None = None) -> str | None:
    """A note when the running server was started from other code than this checkout's (e.g. before a
    ``git pull``): it keeps behaving as that code did until it is restarted."""
    recorded = layout.code_file(home)
    if not recorded.is_file() or recorded.read_text().strip() == code_fingerprint():
        return None
    return (
        "the running sandbox was started from older code of this checkout (its sandbox or job files "
        "changed since); `make sandbox-down sandbox-up` restarts it with this code (its stacks are lost: "
        "`make apply` again)"
    )


def stale_pid_file(home: Path | None = None) -> bool:
    """A pid file exists but its server is gone (checked without removing it)."""
    pid = _read_int(layout.pid_file(home))
    return layout.pid_file(home).exists() and (pid is None or not _is_our_server(pid))


def require_running(home: Path | None = None) -> SandboxInfo:
    info = current(home)
    if info is None:
        raise SandboxError("the sandbox is not running", "start it with `make sandbox-up` (or `make apply`)")
    return info


def requested_port() -> int | None:
    raw = os.environ.get("FANOUT_SANDBOX_PORT", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        from fanout_tools.errors import ConfigError

        raise ConfigError(f"FANOUT_SANDBOX_PORT={raw} is not a port number", "set it to 1-65535 or unset it")
    return int(raw)


def up(
    port: int | None = None, workers: int | None = None, home: Path | None = None
) -> tuple[SandboxInfo, list[str]]:
    """Start the sandbox (or return the one already running); returns it and notes for the user.

    ``home`` names a private sandbox folder (the scan and the tests); default ``.fanout/sandbox``.
    """
    with _exclusive(home):
        return _up(port, workers, home)


def _up(port: int | None, workers: int | None, home: Path | None) -> tuple[SandboxInfo, list[str]]:
    notes: list[str] = []
    if stale_pid_file(home):
        notes.append(f"removed a stale pid file ({layout.pid_file(home)}): its server was no longer running")
    existing = current(home)
    if existing is not None:
        if port is not None and port != existing.port:
            raise SandboxError(
                f"the sandbox is already running on port {existing.port}, not {port}",
                "stop it with `make sandbox-down` first, or drop the port setting",
            )
        if not healthy(existing.port):
            raise SandboxError(
                f"the sandbox (pid {existing.pid}) is running but not answering on port {existing.port}",
                f"see {existing.log}; restart it with `make sandbox-down sandbox-up`",
            )
        stale = stale_code_note(home)
        return existing, notes + ([stale] if stale else [])
    for pid in strays(home):  # at most one server per folder: a server nobody recorded goes first
        _terminate(pid)
        notes.append(f"stopped a stray sandbox server (pid {pid}) that had no pid file")
    chosen = port if port is not None else requested_port()
    for _ in range(PORT_ATTEMPTS):
        candidate = chosen if chosen is not None else free_port()
        if not port_is_free(candidate):
            raise SandboxError(
                f"port {candidate} on 127.0.0.1 is already in use",
                PORT_HINT,
            )
        try:
            return _start(candidate, workers, home), notes
        except _PortTakenError:
            if chosen is not None:
                raise SandboxError(
                    f"port {candidate} on 127.0.0.1 was taken by another program as the sandbox started",
                    PORT_HINT,
                ) from None
            # another command picked the same free port a moment earlier: pick again
    raise SandboxError(
        f"no free port could be bound in {PORT_ATTEMPTS} attempts", f"read {layout.server_log(home)}"
    )


class _PortTakenError(Exception):
    """The server could not bind its port: something else took it after it was found free."""


def _start(port: int, workers: int | None, home: Path | None) -> SandboxInfo:
    state_dir = layout.sandbox_dir(home)
    log_path = layout.server_log(home)
    command = [sys.executable, "-m", SERVER_MODULE, "--port", str(port), "--state-dir", str(state_dir)]
    if workers:
        command += ["--workers", str(workers)]
    env = layout.clean_env({**layout.sandbox_credentials_env(port), "MOTO_PORT": str(port)})
    env.pop("AWS_ENDPOINT_URL", None)  # the server itself must not call itself through an endpoint override
    layout.ready_file(home).unlink(missing_ok=True)
    with log_path.open("ab") as log_file:
        proc = layout.start_process(command, log_file, env, state_dir)
    layout.pid_file(home).write_text(f"{proc.pid}\n")
    layout.port_file(home).write_text(f"{port}\n")
    layout.code_file(home).write_text(code_fingerprint() + "\n")
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _clear_files(home)
            tail = _tail(log_path)
            if "Address already in use" in tail:
                raise _PortTakenError(port)
            raise SandboxError(
                f"the sandbox server exited at start (code {proc.returncode}): {tail}",
                f"read {log_path}",
            )
        # ours only once it has bound the port (two commands may have picked the same free port)
        if _read_int(layout.ready_file(home)) == proc.pid and healthy(port, timeout=1.0):
            return SandboxInfo(pid=proc.pid, port=port, log=log_path)
        time.sleep(0.1)
    _terminate(proc.pid)
    _clear_files(home)
    raise SandboxError(
        f"the sandbox server did not become healthy within {START_TIMEOUT_SECONDS:.0f} s", f"read {log_path}"
    )


def down(home: Path | None = None) -> SandboxInfo | None:
    """Stop the sandbox and any stray server of its folder; returns the recorded server that was
    stopped, or None when none was recorded (:func:`stop_strays` reports the others)."""
    with _exclusive(home):
        info = current(home)
        if info is not None:
            _terminate(info.pid)
        _clear_files(home)
        for pid in strays(home):
            _terminate(pid)
        return info


def stop_strays(home: Path | None = None) -> list[int]:
    """Stop every server of this folder except the recorded one; returns their pids."""
    with _exclusive(home):
        stopped = strays(home)
        for pid in stopped:
            _terminate(pid)
        return stopped


@contextlib.contextmanager
def private(home: Path) -> Iterator[SandboxInfo]:
    """A sandbox of its own in ``home`` for as long as the block runs (the scan, the tests)."""
    info, _ = up(home=home)
    try:
        yield info
    finally:
        down(home)


def _terminate(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished:
                return
        except ChildProcessError:
            pass  # not our child (started by another fanout process): poll with kill(0)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
