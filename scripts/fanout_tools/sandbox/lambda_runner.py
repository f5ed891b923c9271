"""Every Lambda invoke in the sandbox runs the deployed zip's real handler (not moto's canned answer).

moto without Docker (``{"lambda": {"use_docker": false}}``) answers an invoke with a queued canned
result. This module replaces that: the function's zip is taken from moto's backend, extracted once
per code hash, and
the handler runs in a subprocess (:mod:`fanout_tools.sandbox.lambda_bootstrap`) with the function's
environment variables, the sandbox endpoint and fake credentials. An unhandled exception comes back
as AWS Lambda returns it: ``X-Amz-Function-Error: Unhandled`` and the payload
``{"errorType": <exception class>, "errorMessage": <message>, "stackTrace": [...]}``, so Step Functions
reports error = class name. A ``lambda-throttle`` fault (:mod:`fanout_tools.sandbox.faults`) makes
the next invokes of the stack's generator answer ``TooManyRequestsException`` (HTTP 429) instead.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

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


def invoke_function(fn: Any, event_body: str | bytes | None, port: int, base: Path) -> tuple[bytes, bool]:
    """Run ``fn``'s handler with the event; returns (payload bytes, errored)."""
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
            # The first invoke of a code hash writes the bytecode of what it imports, the next ones read
            # it: ~0.25 s of CPU less per invoke (AWS compiles at each cold start: only speed differs).
            # The cache is in the sandbox's folder, never in the zip or the repository. (An empty value
            # unsets the variable: clean_env drops it, whatever the caller's environment says.)
            "PYTHONDONTWRITEBYTECODE": "",
            "PYTHONPYCACHEPREFIX": str(base / "pycache"),
            "PYTHONPATH": str(code),
        }
    )
    body = event_body.decode("utf-8") if isinstance(event_body, bytes) else (event_body or "{}")
    log_path = base / f"{fn.function_name}.log"
    with tempfile.NamedTemporaryFile(dir=base, suffix=".json", delete=False) as result_tmp:
        result_path = Path(result_tmp.name)
    try:
        with log_path.open("ab") as log_file:
            log_file.write(f"--- invoke {fn.function_name}\n".encode())
            log_file.flush()
            try:
                subprocess.run(
                    [sys.executable, str(BOOTSTRAP), str(code), fn.handler, str(result_path)],
                    input=body.encode("utf-8"),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=code,
                    env=env,
                    timeout=float(fn.timeout),
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return _error(
                    "Sandbox.Timeout", f"Task timed out after {float(fn.timeout):.2f} seconds"
                ), True
        text = result_path.read_text(encoding="utf-8") if result_path.stat().st_size else ""
    finally:
        result_path.unlink(missing_ok=True)
    if not text:
        return _error("Runtime.ExitError", f"the handler process died; see {log_path}"), True
    outcome = json.loads(text)
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
