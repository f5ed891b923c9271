"""Every Lambda invoke in the sandbox runs the deployed zip's real handler (not moto's canned answer).

moto without Docker (``{"lambda": {"use_docker": false}}``) answers an invoke with a queued canned
result. This module replaces that: the function's zip is taken from moto's backend, extracted once
per code hash, and
the handler runs in a subprocess (:mod:`fanout_tools.sandbox.lambda_bootstrap`) with the function's
environment variables, the sandbox endpoint and fake credentials. The subprocess stays warm for the
function's next invokes, as a Lambda execution environment does. An unhandled exception comes back
as AWS Lambda returns it: ``X-Amz-Function-Error: Unhandled`` and the payload
``{"errorType": <exception class>, "errorMessage": <message>, "stackTrace": [...]}``, so Step Functions
reports error = class name. A ``lambda-throttle`` fault (:mod:`fanout_tools.sandbox.faults`) makes
the next invokes of the stack's generator answer ``TooManyRequestsException`` (HTTP 429) instead.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fanout_tools.sandbox import compat, faults, layout

log = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
_extract_lock = threading.Lock()


def code_dir(fn: Any, base: Path) -> Path:
    """The function's code, extracted once per code hash under ``base``."""
    digest = (getattr(fn, "code_sha_256", "") or "nohash").replace("/", "_").replace("+", "-").rstrip("=")
    target = base / "code" / f"{fn.function_name}-{digest}"
    with _extract_lock:
        if not target.is_dir():
            tmp = Path(tempfile.mkdtemp(dir=base))
            with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as archive:
                archive.extractall(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(target)
    return target


@dataclass
class _Environment:
    """A warm execution environment: one bootstrap process and the pipe its results come back on."""

    process: subprocess.Popen[bytes]
    results: IO[bytes]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.results.close()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()


# Idle environments per (function, handler, environment variables): an invoke takes one or starts
# one, and gives it back when it answered. Lambda reuses an environment for later invokes of the same
# function version and configuration and starts another for concurrent ones
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
_idle: dict[tuple[str, ...], list[_Environment]] = {}
_idle_lock = threading.Lock()
IDLE_PER_FUNCTION = 4


def _close_idle() -> None:
    with _idle_lock:
        environments = [e for idle in _idle.values() for e in idle]
        _idle.clear()
    for environment in environments:
        environment.close()


atexit.register(_close_idle)


def _start(code: Path, handler: str, env: dict[str, str], log_file: IO[bytes]) -> _Environment:
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, str(BOOTSTRAP), str(code), handler, str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=code,
            env=env,
            pass_fds=(write_fd,),
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return _Environment(process, os.fdopen(read_fd, "rb"))


def invoke_function(fn: Any, event_body: str | bytes | None, port: int, base: Path) -> tuple[bytes, bool]:
    """Run ``fn``'s handler with the event in a warm environment; returns (payload bytes, errored)."""
    if not fn.handler:
        return _error("Runtime.HandlerNotFound", "the function has no Handler"), True
    code = code_dir(fn, base)
    env = layout.clean_env(
        {
            **{str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
            **layout.sandbox_credentials_env(port, fn.region),
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "FANOUT_SANDBOX_FUNCTION_ARN": fn.function_arn,
            "FANOUT_SANDBOX_TIMEOUT": str(fn.timeout),
            # A new environment compiles what it imports into the sandbox's bytecode cache, later ones
            # read it: ~0.25 s of CPU less per cold start (AWS compiles at each cold start: only speed
            # differs). The cache is in the sandbox's folder, never in the zip or the repository. (An
            # empty value unsets the variable: clean_env drops it, whatever the caller's environment
            # says.)
            "PYTHONDONTWRITEBYTECODE": "",
            "PYTHONPYCACHEPREFIX": str(base / "pycache"),
            "PYTHONPATH": str(code),
        }
    )
    body = event_body.decode("utf-8") if isinstance(event_body, bytes) else (event_body or "{}")
    try:
        event = json.loads(body)
    except ValueError as err:
        return _error("Runtime.InvalidEvent", f"the payload is not JSON: {err}"), True
    # the environment holds the code's path (PYTHONPATH) and the sandbox folder's cache: with the handler
    # it names everything an environment depends on
    key = (fn.function_arn, fn.handler, json.dumps(env, sort_keys=True))
    log_path = base / f"{fn.function_name}.log"
    with log_path.open("ab") as log_file:
        log_file.write(f"--- invoke {fn.function_name}\n".encode())
        log_file.flush()
        with _idle_lock:
            idle = _idle.get(key) or []
            environment = idle.pop() if idle else None
            # a function whose code or configuration changed keeps no environment of the old one
            stale = [k for k in _idle if k[0] == key[0] and k != key]
            retired = [e for k in stale for e in _idle.pop(k)]
        for old in retired:
            old.close()
        if environment is not None and environment.process.poll() is not None:
            environment.close()
            environment = None
        if environment is None:
            environment = _start(code, fn.handler, env, log_file)
        try:
            assert environment.process.stdin is not None
            environment.process.stdin.write((json.dumps({"event": event}) + "\n").encode("utf-8"))
            environment.process.stdin.flush()
            ready, _, _ = select.select([environment.results], [], [], float(fn.timeout))
            line = environment.results.readline() if ready else b""
        except OSError:
            line = b""
            ready = [environment.results]
        if not ready:
            environment.close()  # Lambda ends an environment whose invoke timed out
            return _error("Sandbox.Timeout", f"Task timed out after {float(fn.timeout):.2f} seconds"), True
        if not line:
            environment.close()
            return _error("Runtime.ExitError", f"the handler process died; see {log_path}"), True
    outcome = json.loads(line)
    keep = not outcome.pop("final", False)  # a failed init ends its environment
    if keep:
        with _idle_lock:
            pool = _idle.setdefault(key, [])
            keep = len(pool) < IDLE_PER_FUNCTION
            if keep:
                pool.append(environment)
    if not keep:
        environment.close()
    if outcome.pop("ok"):
        return json.dumps(outcome["result"]).encode("utf-8"), False
    return json.dumps(outcome).encode("utf-8"), True


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode("utf-8")


def install(port: int, base: Path, fault_store: faults.Store | None = None) -> None:
    """Make moto's no-Docker Lambda backend run real handlers (patches ``LambdaSimpleBackend.invoke``);
    ``fault_store`` holds the sandbox's injected faults (``lambda-throttle`` acts here)."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        fn = self.get_function(function_name, qualifier)
        if (
            fault_store is not None
            and fn.function_name.endswith(faults.GENERATOR_SUFFIX)
            and fault_store.take(faults.LAMBDA_THROTTLE) is not None
        ):
            log.warning("sandbox fault: %s: Invoke %s answered 429", faults.LAMBDA_THROTTLE, fn.function_name)
            # Lambda answers a throttled invoke so (HTTP 429):
            # https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors
            raise faults.too_many_requests(f"Rate Exceeded. (sandbox fault: {faults.LAMBDA_THROTTLE})")
        payload, errored = invoke_function(fn, body, port, base)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    compat.patch_attribute(LambdaSimpleBackend, "invoke", invoke)
