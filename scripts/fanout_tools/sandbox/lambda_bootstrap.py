"""Runs a Lambda handler in an interpreter of its own, as the Lambda Python runtime would: one execution
environment, kept warm between invokes.

Usage (by :mod:`fanout_tools.sandbox.lambda_runner`, never by hand)::

    python lambda_bootstrap.py <code dir> <module.function> <result fd>

Each line on stdin is one invoke, ``{"event": ...}``; the handler module is imported at the first
invoke and kept, so module-level state lives on between invokes as in a warm Lambda environment
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). Each invoke writes one
line to the result fd: ``{"ok": true, "result": ...}`` or ``{"ok": false, "errorType",
"errorMessage", "stackTrace"}``, the error payload AWS Lambda returns for an unhandled exception. The
handler's prints go to this process's stdout/stderr (the function's log). The process ends when stdin
closes (the sandbox server went away) and after a failed import (the next invoke starts afresh, as
Lambda re-initialises an environment whose init failed). Stdlib only: this file runs with the
function's code first on ``sys.path``.
"""

import importlib
import json
import os
import sys
import time
import traceback
import uuid


class _Context:
    def __init__(self, deadline: float) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("FANOUT_SANDBOX_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(err: BaseException) -> dict:
    return {
        "ok": False,
        "errorType": type(err).__name__,
        "errorMessage": str(err),
        # drop this bootstrap's own frame, as the Lambda runtime shows only the function's frames
        "stackTrace": traceback.format_list(traceback.extract_tb(err.__traceback__)[1:]),
    }


def main() -> int:
    code_dir, handler_spec, result_fd = sys.argv[1:4]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, code_dir)
    timeout = float(os.environ.get("FANOUT_SANDBOX_TIMEOUT", "3"))
    results = os.fdopen(int(result_fd), "w", encoding="utf-8")
    handler = None
    for line in sys.stdin:
        started = time.monotonic()
        failed_init = False
        try:
            event = json.loads(line)["event"]
            if handler is None:
                module_name, _, function_name = handler_spec.rpartition(".")
                try:
                    handler = getattr(importlib.import_module(module_name), function_name)
                except Exception:
                    failed_init = True
                    raise
            payload = {"ok": True, "result": handler(event, _Context(started + timeout))}
            text = json.dumps(payload)
        except Exception as err:  # report it exactly as the Lambda runtime does
            traceback.print_exc()
            text = json.dumps({**_error(err), "final": failed_init}, default=str)
        sys.stdout.flush()
        sys.stderr.flush()
        results.write(text + "\n")
        results.flush()
        if failed_init:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
