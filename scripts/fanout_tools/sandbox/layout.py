"""Where the sandbox keeps its files, and the environment every process talking to it gets."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import IO

from fanout_tools.paths import runtime_dir

FAKE_ACCESS_KEY = "sandbox"
FAKE_SECRET_KEY = "sandbox"  # not a secret: the local account accepts anything
DEFAULT_REGION = "us-east-1"


def sandbox_dir(home: Path | None = None) -> Path:
    """The sandbox's folder: ``home`` (a private sandbox: the scan, tests) or ``.fanout/sandbox``."""
    path = home or runtime_dir() / "sandbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pid_file(home: Path | None = None) -> Path:
    return sandbox_dir(home) / "server.pid"


def port_file(home: Path | None = None) -> Path:
    return sandbox_dir(home) / "server.port"


READY_FILE = "server.ready"


def ready_file(home: Path | None = None) -> Path:
    """Written by the server, with its pid, once its port is bound: until then a server answering on the
    port may be another one that won a race for it, and ``fanout sandbox up`` must not take it for its own."""
    return sandbox_dir(home) / READY_FILE


def code_file(home: Path | None = None) -> Path:
    """The fingerprint of the code the running server was started from (see control.code_fingerprint)."""
    return sandbox_dir(home) / "server.code"


def lock_file(home: Path | None = None) -> Path:
    """Held (flock) while a sandbox starts or stops, so two commands never start two servers."""
    return sandbox_dir(home) / "server.lock"


def server_log(home: Path | None = None) -> Path:
    return sandbox_dir(home) / "server.log"


def jobs_dir(base: Path | None = None) -> Path:
    """Per-job output of Batch jobs: ``<job id>.log``."""
    path = (base or sandbox_dir()) / "jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def lambda_dir(base: Path | None = None) -> Path:
    """Extracted function code (by code hash) and the functions' logs."""
    path = (base or sandbox_dir()) / "lambda"
    path.mkdir(parents=True, exist_ok=True)
    return path


def endpoint_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def sandbox_credentials_env(port: int, region: str = DEFAULT_REGION) -> dict[str, str]:
    """Variables that point any AWS SDK/CLI/provider at the sandbox with fake credentials.

    Also neutralises profile/config files and container/instance credential sources, so nothing
    started with this environment can reach a real account.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint_url(port),
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_SESSION_TOKEN": "",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_PROFILE": "",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
    }


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """os.environ without any AWS_* variable, updated with ``extra``; empty values are dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


def start_process(
    command: list[str], output: IO[bytes], env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a session of its own (so its whole group can be signalled), no stdin,
    stdout and stderr into ``output``: how the sandbox starts its server and a job's command."""
    return subprocess.Popen(
        command,
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
