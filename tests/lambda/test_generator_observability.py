"""What a user sees of a generator invocation: its JSON log lines and the annotations on its trace.

In-process tests read the lines Powertools' Logger writes; the zip tests run the handler from the built
package as Lambda and the sandbox do, and read the function's log and the X-Ray daemon's UDP traffic.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import handler
import pytest
from fanout_tools import package
from fanout_tools.paths import lambda_dir, repo_root
from fanout_tools.sandbox import lambda_runner

BOOTSTRAP = lambda_runner.BOOTSTRAP
# What the python3.12 runtime provides besides the standard library: the AWS SDK for Python and its
# dependencies (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html). Everything else the
# handler imports must be in the zip.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil", "six", "urllib3")
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """What the handler's logger writes during the test (stdout in Lambda, so the function's log)."""
    stream = io.StringIO()
    previous = handler.logger.registered_handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.logger.registered_handler.setStream(previous)


def logged(log: io.StringIO) -> list[dict]:
    """Every line must be one JSON object; returns them in order."""
    return [json.loads(line) for line in log.getvalue().splitlines()]


# ---------------------------------------------------------------- log lines, in process


def test_success_logs_one_line_with_mode_counts_execution_and_duration(generator_env, invoke, log):
    generator_env("inline")
    invoke({"input": {"count": 3}, "execution_name": "exec-1"})
    [line] = logged(log)
    assert line["level"] == "INFO" and line["message"] == "work items generated"
    assert line["service"] == "fanout-generator"
    assert line["mode"] == "inline" and line["item_count"] == 3 and line["execution_name"] == "exec-1"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["function_request_id"] and line["cold_start"] in (True, False)
    assert "batch_count" not in line  # inline mode has no batches
    assert "error" not in line


@pytest.mark.parametrize(("mode", "batches"), [("array", 3), ("distributed", 3), ("distributed_array", 3)])
def test_s3_modes_log_the_batch_count(generator_env, s3_bucket, invoke, log, mode, batches):
    generator_env(mode)
    invoke({"input": {"count": 2_500}, "execution_name": "run-b"})
    [line] = logged(log)
    assert (line["mode"], line["item_count"], line["batch_count"]) == (mode, 2_500, batches)
    assert line["execution_name"] == "run-b"


@pytest.mark.parametrize(
    ("payload", "error", "words"),
    [
        ({"count": 0}, "InvalidInputError", "'count' must be a positive integer"),
        ({"count": 50_000}, "TooManyItemsError", "inline mode handles: at most 2,560"),
    ],
)
def test_rejected_input_logs_a_warning_with_the_error_and_cause(
    generator_env, invoke, log, payload, error, words
):
    generator_env("inline")
    with pytest.raises(handler.RejectedInputError) as caught:
        invoke({"input": payload, "execution_name": "exec-bad"})
    [line] = logged(log)
    assert line["level"] == "WARNING" and line["message"] == "execution input rejected"
    assert line["error"] == error == type(caught.value).__name__  # what Step Functions reports
    assert words in line["cause"] and line["cause"] == str(caught.value)
    assert line["mode"] == "inline" and line["execution_name"] == "exec-bad"
    assert "duration_ms" in line


def test_a_bad_environment_logs_an_error_naming_it(generator_env, invoke, log):
    generator_env("sideways")
    with pytest.raises(handler.GeneratorConfigError):
        invoke({"input": {"count": 1}, "execution_name": "e"})
    [line] = logged(log)
    assert line["level"] == "ERROR" and line["error"] == "GeneratorConfigError"
    assert "FANOUT_MODE" in line["cause"]


def test_keys_of_one_invocation_do_not_leak_into_the_next(generator_env, invoke, log):
    generator_env("inline")
    invoke({"input": {"count": 2}, "execution_name": "first"})
    with pytest.raises(handler.InvalidInputError):
        invoke({"input": {"itmes": [1]}})
    first, second = logged(log)
    assert first["item_count"] == 2 and first["execution_name"] == "first"
    assert "item_count" not in second and "execution_name" not in second


def test_mode_and_item_count_are_trace_annotations(generator_env, invoke, monkeypatch):
    generator_env("inline")
    seen: list[tuple[str, object]] = []
    monkeypatch.setattr(handler.tracer, "put_annotation", lambda key, value: seen.append((key, value)))
    invoke({"input": {"count": 4}, "execution_name": "e"})
    assert seen == [("mode", "inline"), ("item_count", 4)]


def test_tracing_is_off_outside_lambda():
    # No LAMBDA_TASK_ROOT here (tests, `fanout run`'s pre-check, the sandbox): Powertools disables the
    # Tracer instead of reporting a missing segment on every call.
    assert handler.tracer.disabled


# ---------------------------------------------------------------- the built zip


def test_generator_requirements_match_the_tooling_lock():
    """handler.py is imported by the tooling too (`fanout run` checks an input with parse_input), so the
    versions the zip carries are the versions the tooling runs."""
    locked = {}
    for line in (repo_root() / "requirements.lock").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            locked[canonical(name)] = version.strip()
    pins = package.requirements(lambda_dir() / "generator")
    assert pins, "lambda/generator/requirements.txt names the generator's dependencies"
    for pin in pins:
        name, _, version = pin.partition("==")
        assert locked.get(canonical(name)) == version, f"requirements.lock must pin {pin}"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real package, built as `fanout package` builds it and extracted."""
    built = package.build(lambda_dir() / "generator", tmp_path_factory.mktemp("zip") / "generator.zip")
    target = tmp_path_factory.mktemp("code")
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(target)
    return target


@pytest.fixture(scope="module")
def runtime_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only what the Lambda runtime adds to the standard library (links to the venv's)."""
    folder = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (folder / source.name).symlink_to(source)
    return folder


def generator_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("FANOUT_")}


def test_the_zip_carries_everything_the_handler_imports_and_tracer_annotates_the_trace(
    generator_env, code, runtime_packages, tmp_path
):
    """Run as Lambda runs it: no site-packages (``-S``), only the runtime's SDK beside the zip, tracing
    active (LAMBDA_TASK_ROOT, a trace header, a daemon address), on the host's Python; the subsegment
    the X-Ray SDK sends to the daemon carries the annotations."""
    generator_env("inline")
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(10)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(runtime_packages),
        "PYTHONDONTWRITEBYTECODE": "1",
        **generator_environment(),
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "fanout-generator",
        "LAMBDA_TASK_ROOT": str(code),
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
    }
    result_read, result_write = os.pipe()
    with daemon, os.fdopen(result_read, "rb") as results:
        try:
            done = subprocess.run(
                [sys.executable, "-S", str(BOOTSTRAP), str(code), "handler.handler", str(result_write)],
                input=b'{"event": {"input": {"count": 3}, "execution_name": "traced"}}\n',
                capture_output=True,
                env=env,
                cwd=code,
                timeout=120,
                check=False,
                pass_fds=(result_write,),
            )
        finally:
            os.close(result_write)
        outcome = json.loads(results.readline())
        assert outcome["ok"], (outcome, done.stdout.decode(), done.stderr.decode())
        documents = []
        while not any(d.get("name") == "## handler" for d in documents):
            header, _, body = daemon.recv(65536).partition(b"\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            documents.append(json.loads(body))
    assert done.stderr.decode().strip() == ""
    [line] = [json.loads(text) for text in done.stdout.decode().splitlines()]
    assert (line["mode"], line["item_count"], line["execution_name"]) == ("inline", 3, "traced")
    assert line["xray_trace_id"] == TRACE_ID
    [segment] = [d for d in documents if d.get("name") == "## handler"]
    assert segment["trace_id"] == TRACE_ID
    assert segment["annotations"]["mode"] == "inline" and segment["annotations"]["item_count"] == 3
    assert "metadata" not in segment or "handler response" not in json.dumps(segment["metadata"])


def sandbox_function(zip_bytes: bytes, environment: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(
        function_name="fanout-generator",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:fanout-generator",
        code_bytes=zip_bytes,
        code_sha_256="observability-test",
        handler="handler.handler",
        environment_vars=environment,
        region="us-east-1",
        memory_size=256,
        logs_group_name="/aws/lambda/fanout-generator",
        timeout=60,
    )


def test_the_sandbox_function_log_shows_the_json_lines(generator_env, code, tmp_path):
    """`make run` in the sandbox: the deployed zip's handler in a subprocess; its log file gets one JSON
    line per invocation, and the rejected one names the error Step Functions reports."""
    generator_env("inline")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(code.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(code).as_posix())
    fn = sandbox_function(buffer.getvalue(), generator_environment())
    good = json.dumps({"input": {"count": 2}, "execution_name": "sandbox-ok"})
    payload, errored = lambda_runner.invoke_function(fn, good, 5555, tmp_path)
    assert not errored and json.loads(payload)["count"] == 2
    bad = json.dumps({"input": {"count": -1}, "execution_name": "sandbox-bad"})
    payload, errored = lambda_runner.invoke_function(fn, bad, 5555, tmp_path)
    assert errored and json.loads(payload)["errorType"] == "InvalidInputError"
    text = (tmp_path / "fanout-generator.log").read_text()
    lines = [json.loads(t) for t in text.splitlines() if t.startswith("{")]
    assert [(x["level"], x["execution_name"]) for x in lines] == [
        ("INFO", "sandbox-ok"),
        ("WARNING", "sandbox-bad"),
    ]
    assert lines[0]["item_count"] == 2 and lines[1]["error"] == "InvalidInputError"
    assert "segment" not in text.lower()  # the Tracer is off in the sandbox, not complaining


def test_the_zip_has_no_path_of_the_machine_that_built_it(code):
    needles = [os.fsencode(p) for p in {sys.prefix, sys.base_prefix, str(package.build_dir())}]
    for path in code.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [n for n in needles if n in data], path
    assert not (code / "bin").exists()
    assert not [p for p in code.glob("*.dist-info/*") if p.name in ("RECORD", "INSTALLER", "REQUESTED")]
    assert (code / "aws_lambda_powertools-3.37.0.dist-info" / "METADATA").is_file()  # the wheel's own
