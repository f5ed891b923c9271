"""Property-based tests of every input boundary (hypothesis; the "ci" profile of tests/conftest.py).

Boundaries: the generator's one validation (``handler.validate_execution_input``, which the Lambda runs and
``fanout run`` runs as its pre-check) in every mode, and the CLI's reading of an ``--input`` file, against
arbitrary JSON: deep nesting, huge strings, huge numbers, NaN/Infinity, invalid UTF-8, duplicate keys,
unpaired surrogates and non-object roots. The documented outcome is: accepted, or refused with one of the
named errors and a message that says what to do; never another exception (a traceback in the CLI, an
unnamed error in the execution), and never an execution started for an input Step Functions or the
generator would refuse.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import handler
import pytest
from fanout_tools import run
from fanout_tools.contract import contract
from fanout_tools.errors import ConfigError, FanoutError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
LIMITS = json.loads((REPO / "terraform" / "aws_limits.json").read_text())
BUCKET = "fanout-test-bucket"
MODES = tuple(contract().mode_names)
PAYLOAD_BYTES = int(LIMITS["sfn_payload_bytes"])
# Every refusal ends with an instruction; these are the verbs they start with.
WHAT_TO_DO = re.compile(
    r"\b(Start|Pass|Use|Remove|Replace|Redeploy|Split|Make|Store|Flatten|give|Raise|Invoke|fix|save|"
    r"flatten|replace|pass|use|keep)\b"
)


def settings_for(mode: str) -> handler.Settings:
    env = {
        "FANOUT_MODE": mode,
        "FANOUT_MODES": json.dumps(list(MODES)),
        "FANOUT_LIMITS": json.dumps(LIMITS),
        "FANOUT_ITEMS_PER_BATCH": "1000",
        "FANOUT_BUCKET": BUCKET,
    }
    return handler.Settings.from_env(env)


# --- strategies ------------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)  # beyond 64-bit
    | st.floats(allow_nan=True, allow_infinity=True)  # NaN / Infinity / -0.0 / subnormals
    | st.text()  # any code point, unpaired surrogates included
    | st.sampled_from(["", "é", "😀", "\ud800", '"', "\\", "\x00", "index"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
# one long string: ASCII, 2-byte, 4-byte and escape-heavy characters, up to beyond the 256 KiB payload
huge_strings = st.builds(
    lambda char, n: char * n,
    st.sampled_from(["a", "é", "😀", '"', "\x01"]),
    st.integers(min_value=0, max_value=70_000),
)


class Deep:
    """A value nested ``depth`` levels (lists or objects), built only inside the test: hypothesis's own
    reporting would recurse on the real thing."""

    def __init__(self, depth: int, as_list: bool) -> None:
        self.depth, self.as_list = depth, as_list

    def __repr__(self) -> str:
        return f"_nest({self.depth}, {self.as_list})"


def expand(value: Any) -> Any:
    if isinstance(value, Deep):
        return _nest(value.depth, value.as_list)
    if isinstance(value, list):
        return [expand(v) for v in value]
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    return value


# nesting from shallow to far beyond the interpreter's recursion limit
deep = st.builds(Deep, st.integers(min_value=1, max_value=5_000), st.booleans())
items_values = json_values | huge_strings | deep
counts = (
    st.integers() | st.integers(min_value=-5, max_value=5) | st.floats() | st.text(max_size=3) | st.none()
)


def _nest(depth: int, as_list: bool) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value] if as_list else {"k": value}
    return value


shaped_inputs = (
    st.fixed_dictionaries({"items": st.lists(items_values, max_size=6) | items_values})
    | st.fixed_dictionaries({"count": counts}, optional={"template": json_values | deep | huge_strings})
    | st.fixed_dictionaries(
        {"count": st.integers(min_value=1, max_value=5)},
        optional={"template": st.dictionaries(st.text(max_size=8), items_values, max_size=3)},
    )
    | st.dictionaries(st.sampled_from(["items", "count", "template", "extra"]), items_values, max_size=4)
)
execution_inputs = shaped_inputs | json_values | deep


def _text(data: Any) -> str | None:
    """The input as StartExecution would carry it, when it has a JSON text at all."""
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    except (RecursionError, ValueError):
        return None


# --- the generator's one validation ------------------------------------------------------------------


def _assert_validation_outcome(data: Any, mode: str) -> None:
    cfg = settings_for(mode)
    try:
        request = handler.validate_execution_input(data, cfg, _text(data))
    except (handler.InvalidInputError, handler.TooManyItemsError) as err:
        message = str(err)
        assert message and "\n" not in message
        assert WHAT_TO_DO.search(message), f"the refusal does not say what to do: {message}"
        return
    # accepted: what the execution will do with it fits every limit the generator enforces
    assert isinstance(data, dict) and request.count >= 1
    text = _text(data)
    assert text is not None and len(text.encode("utf-8")) <= PAYLOAD_BYTES
    if mode in ("inline", "distributed"):
        limit = handler.capacity.max_item_bytes(cfg.limits)
        if request.explicit is not None:
            for item in request.explicit:
                # what the job receives, \\u-escaped as the sandbox's States.JsonToString writes it
                job_text = json.dumps(item, separators=(",", ":"), allow_nan=False)
                assert len(job_text.encode()) <= limit


@pytest.mark.parametrize("mode", MODES)
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=execution_inputs)
@example(data={"items": [float("nan")]})
@example(data={"\n": None})  # found by the explore profile: a field name broke the one-line message
@example(data={"items": ["é" * 9_000]})  # 18 KB of UTF-8, 54 KB \\u-escaped: over the job's budget
@example(data={"count": 3, "template": {"x": float("inf")}})
@example(data={"items": ["\ud800"]})
@example(data={"items": [Deep(5_000, True)]})
@example(data={"items": ["a" * 300_000]})
def test_the_generator_accepts_or_refuses_with_what_to_do(mode: str, data: Any) -> None:
    _assert_validation_outcome(expand(data), mode)


def test_the_item_budget_counts_what_the_job_receives() -> None:
    """Non-ASCII is counted \\u-escaped (6 bytes per character), as the job receives it in the sandbox and
    never less than the raw UTF-8 AWS could send: an item that fits in UTF-8 only is refused."""
    limit = handler.capacity.max_item_bytes(LIMITS)
    item = "é" * (limit // 4)  # ~2x the limit's UTF-8 bytes / 2, but 6 bytes each escaped
    assert len(json.dumps(item, ensure_ascii=False).encode()) < limit
    with pytest.raises(handler.InvalidInputError, match=r"item 0 is [\d,]+ bytes"):
        handler.validate_execution_input({"items": [item]}, settings_for("inline"))


def test_the_payload_budget_is_part_of_the_one_validation() -> None:
    data = {"items": ["x" * 1000] * 300}  # about 300 KB
    with pytest.raises(handler.InvalidInputError, match="Step Functions accepts at most 262,144"):
        handler.validate_execution_input(data, settings_for("array"), _text(data))


# --- the CLI's reading of --input -------------------------------------------------------------------

json_texts = st.builds(lambda v: json.dumps(v, ensure_ascii=False), json_values) | st.sampled_from(
    [
        '{"items": [NaN]}',
        '{"items": [Infinity]}',
        '{"count": -Infinity}',
        '{"items": [1e400]}',
        '{"count": 1' + "0" * 5000 + "}",  # more digits than Python converts
        '{"count": 1, "count": 2}',
        '{"items": [{"a": 1, "a": 1}]}',
        '"\\ud800"',
        '{"items": ["\\udfff"]}',
        "[" * 100_000 + "]" * 100_000,
        '{"items": [1]',
        "\ufeff{}",
        "",
        "[]",
        "null",
    ]
)
file_bytes = (
    json_texts.map(lambda text: text.encode("utf-8", "surrogatepass"))
    | st.binary(max_size=64)
    | st.builds(
        lambda text, junk: text.encode("utf-8", "surrogatepass") + junk, json_texts, st.binary(max_size=4)
    )
)


def _read(raw: bytes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.json"
        path.write_bytes(raw)
        return run.execution_input(None, path)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=file_bytes)
def test_reading_an_input_file_returns_an_object_or_a_config_error(raw: bytes) -> None:
    try:
        value = _read(raw)
    except ConfigError as err:
        assert err.message and err.hint, "every refusal says what to do"
        return
    assert isinstance(value, dict)
    run.input_text(value)  # whatever was read can be sent as JSON


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"items": [NaN]}', "NaN is not a JSON number"),
        (b'{"items": [1e400]}', "too large for a 64-bit float"),
        (b'{"count": 1, "count": 2}', "the key 'count' appears twice"),
        (b'{"items": ["\xff"]}', "is not UTF-8 text (byte 0xff at offset 12)"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        (b"[1]", "must hold a JSON object"),
    ],
)
def test_each_kind_of_bad_file_is_named(raw: bytes, why: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(why)):
        _read(raw)


# --- fanout run, end to end: never a traceback, never an execution the service would refuse ----------


class FakeClients:
    """The deployed stack as `fanout run` sees it: the generator's configuration and StartExecution,
    which refuses what Step Functions refuses and records what it starts."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.started: list[str] = []
        self.env = {
            "FANOUT_MODE": mode,
            "FANOUT_MODES": json.dumps(list(MODES)),
            "FANOUT_LIMITS": json.dumps(LIMITS),
            "FANOUT_ITEMS_PER_BATCH": "1000",
            "FANOUT_BUCKET": BUCKET,
        }

    def client(self, service: str) -> Any:
        return self

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        return {"Environment": {"Variables": self.env}}

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        self.started.append(input)
        raise StopAfterStart(input)


class StopAfterStart(FanoutError):
    """Ends `fanout run` right after StartExecution (the test is about what may be started)."""


@pytest.mark.parametrize("mode", ["inline", "array"])
@settings(
    max_examples=25,
    suppress_health_check=[  # the fixtures are reset per example (setattr of the same fake; readouterr)
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    raw=file_bytes
    | execution_inputs.map(lambda v: (_text(expand(v)) or "{}").encode("utf-8", "surrogatepass"))
)
def test_fanout_run_never_starts_what_would_be_refused(
    mode: str, raw: bytes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools import deploy
    from fanout_tools.cli import main

    fake = FakeClients(mode)
    stack = type("FakeStack", (), {"client": fake.client, "target": None})()
    monkeypatch.setattr(
        deploy, "deployed", lambda args: (stack, {"state_machine_arn": "arn", "generator_function_name": "g"})
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.json"
        path.write_bytes(raw)
        code = main(["run", "--input", str(path), "--no-progress"])
    assert code == 2  # refused, or stopped right after the start by the fake
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for body in fake.started:
        # Step Functions takes it (UTF-8 JSON within 256 KiB) and the generator accepts it
        assert len(body.encode("utf-8")) <= PAYLOAD_BYTES
        handler.validate_execution_input(json.loads(body), settings_for(mode))
