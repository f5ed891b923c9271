"""`fanout run` refuses, before starting anything, an input the deployed generator would reject."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fanout_tools import run
from fanout_tools.contract import contract
from fanout_tools.errors import ConfigError
from fanout_tools.paths import terraform_dir


class FakeLambda:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        return {"FunctionName": FunctionName, "Environment": {"Variables": self.env}}


class FakeTarget:
    def __init__(self, env: dict[str, str]) -> None:
        self.lambda_client = FakeLambda(env)
        self.started = False

    def client(self, service: str) -> Any:
        assert service == "lambda", "check_input must not call anything but the function's configuration"
        return self.lambda_client


def deployed(mode: str, **extra: str) -> FakeTarget:
    limits = json.loads((terraform_dir() / "aws_limits.json").read_text())
    env = {"FANOUT_MODE": mode, "FANOUT_LIMITS": json.dumps(limits), "FANOUT_ITEMS_PER_BATCH": "1000"}
    env["FANOUT_MODES"] = json.dumps(contract().mode_names)  # as Terraform sets it from the contract
    if mode != "inline":
        env["FANOUT_BUCKET"] = "bucket"
    env.update(extra)
    return FakeTarget(env)


OUTPUTS = {"generator_function_name": "fanout-generator"}


def test_over_capacity_is_refused_naming_the_limit_and_the_mode_that_fits() -> None:
    with pytest.raises(ConfigError) as caught:
        run.check_input(deployed("inline"), OUTPUTS, {"count": 50_000})
    message = caught.value.message
    assert message.startswith("TooManyItemsError: 50,000 items exceed what inline mode handles")
    assert "sfn_payload_bytes" in message and 'fanout_mode = "array"' in message
    assert "nothing was started" in caught.value.hint


def test_deployment_ceiling_max_items_is_respected() -> None:
    with pytest.raises(ConfigError, match="FANOUT_MAX_ITEMS"):
        run.check_input(deployed("distributed_array", FANOUT_MAX_ITEMS="100"), OUTPUTS, {"count": 101})


def test_bad_shape_is_refused_with_the_generators_message() -> None:
    with pytest.raises(ConfigError, match="InvalidInputError: give exactly one of 'items' or 'count'"):
        run.check_input(deployed("inline"), OUTPUTS, {"items": [1], "count": 1})


@pytest.mark.parametrize(
    ("mode", "payload"),
    [("inline", {"count": 2_000}), ("distributed_array", {"count": 1_000_000}), ("array", {"items": [1, 2]})],
)
def test_inputs_the_mode_handles_pass(mode: str, payload: dict[str, Any]) -> None:
    run.check_input(deployed(mode), OUTPUTS, payload)
