"""Runs one Lambda handler in a fresh interpreter, as the Lambda Python runtime would.

Usage (by :mod:`fanout_tools.sandbox.lambda_runner`, never by hand)::

    python lambda_bootstrap.py <code dir> <module.function> <result file>  < event.json

The handler's prints go to this process's stdout/stderr (the function's log). The result file gets
``{"ok": true, "result": ...}`` or ``{"ok": false, "errorType", "errorMessage", "stackTrace"}``,
the error payload AWS Lambda returns for an unhandled exception. Stdlib only: this file runs with
the function's code first on ``sys.path``.
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


def main() -> int:
    code_dir, handler_spec, result_file = sys.argv[1:4]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, code_dir)
    timeout = float(os.environ.get("FANOUT_SANDBOX_TIMEOUT", "3"))
    event = json.loads(sys.stdin.read() or "{}")
    try:
        module_name, _, function_name = handler_spec.rpartition(".")
        handler = getattr(importlib.import_module(module_name), function_name)
        result = handler(event, _Context(time.monotonic() + timeout))
        payload = {"ok": True, "result": result}
        text = json.dumps(payload)
    except Exception as err:  # report it exactly as the Lambda runtime does
        payload = {
            "ok": False,
            "errorType": type(err).__name__,
            "errorMessage": str(err),
            # drop this bootstrap's own frame, as the Lambda runtime shows only the handler's frames
            "stackTrace": traceback.format_list(traceback.extract_tb(err.__traceback__)[1:]),
        }
        traceback.print_exc()
        text = json.dumps(payload, default=str)
    with open(result_file, "w", encoding="utf-8") as out:
        out.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
