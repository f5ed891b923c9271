"""`fanout sandbox up|down|status`: a real background server in a private runtime folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fanout_tools.cli import main
from fanout_tools.errors import SandboxError
from fanout_tools.sandbox import control, layout

pytestmark = pytest.mark.xdist_group("sandbox")


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("FANOUT_SANDBOX_PORT", raising=False)
    yield tmp_path
    control.down()


def test_up_status_down(runtime: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "up"]) == 0
    info = control.current()
    assert info is not None
    assert layout.pid_file().read_text().strip() == str(info.pid)
    # the server answers AWS APIs on loopback and runs with the sandbox configuration
    with urllib.request.urlopen(f"{info.endpoint}/moto-api/config", timeout=5) as resp:
        assert json.loads(resp.read())["lambda"] == {"use_docker": False}
    assert main(["sandbox", "up"]) == 0  # a second `up` reuses the running server
    assert control.current() == info
    assert main(["sandbox", "status"]) == 0
    assert f"127.0.0.1:{info.port}" in capsys.readouterr().out
    # a server keeps the code it started with: after the checkout's sandbox code changed, `up` says so
    assert layout.code_file().read_text().strip() == control.code_fingerprint()
    assert "older code" not in capsys.readouterr().out
    layout.code_file().write_text("0" * 64 + "\n")
    assert main(["sandbox", "up"]) == 0
    assert "started from older code of this checkout" in capsys.readouterr().out
    assert main(["sandbox", "down"]) == 0
    assert control.current() is None
    assert not layout.pid_file().exists() and not layout.code_file().exists()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{info.endpoint}/moto-api/config", timeout=2)


def test_status_and_down_when_not_running(runtime: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "status"]) == 2
    err = capsys.readouterr().err
    assert "the sandbox is not running" in err and "make sandbox-up" in err
    assert main(["sandbox", "down"]) == 0
    assert "was not running" in capsys.readouterr().out


def test_port_in_use_is_a_one_line_error(runtime: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["sandbox", "up", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert control.current() is None


def test_stale_pid_file_is_recovered(runtime: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    layout.pid_file().write_text(dead.stdout)
    layout.port_file().write_text("1\n")
    assert main(["sandbox", "up"]) == 0
    out = capsys.readouterr().out
    assert "stale pid file" in out
    info = control.current()
    assert info is not None and info.port != 1


def test_a_pid_file_naming_another_program_is_not_trusted(runtime: Path) -> None:
    layout.pid_file().write_text(f"{os.getpid()}\n")  # this pytest process: alive, but not a sandbox
    layout.port_file().write_text("1\n")
    assert control.current() is None
    assert not layout.pid_file().exists()


def test_server_that_dies_at_start_reports_its_log(runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "SERVER_MODULE", "fanout_tools.sandbox.no_such_module")
    with pytest.raises(SandboxError, match="exited at start"):
        control.up()
    assert not layout.pid_file().exists()


def test_a_server_that_won_the_race_for_the_port_is_not_taken_for_ours(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two commands may pick the same free port: the first server binds it, the second cannot. The
    second must not take the first (which answers like a sandbox) for its own and deploy into it."""
    import http.server
    import threading

    class Impostor(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # answers the health check as a sandbox would
            body = json.dumps({"batch": {"use_docker": False}}).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    port = other.server_address[1]
    monkeypatch.setattr(control, "port_is_free", lambda _port: True)  # the race: it was free when checked
    try:
        assert control.healthy(port)
        with pytest.raises(SandboxError, match=f"port {port} on 127.0.0.1 was taken by another program"):
            control.up(port=port)  # a port the user asked for: say so
        assert control.current() is None
        picks = iter([port, control.free_port()])
        monkeypatch.setattr(control, "free_port", lambda: next(picks))
        info, _ = control.up()  # a port it picked itself: pick again
        assert info.port != port and control.current() == info
    finally:
        other.shutdown()
