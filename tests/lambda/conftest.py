"""Make the Lambda sources importable the way Lambda / the job container import them (top-level modules)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fanout_tools.contract import contract

REPO = Path(__file__).resolve().parents[2]
for folder in (REPO / "lambda" / "generator", REPO / "lambda" / "job"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

LIMITS = json.loads((REPO / "terraform" / "aws_limits.json").read_text())
BUCKET = "fanout-test-bucket"


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of the Lambda context object the handler (Powertools' decorators) reads.
    https://docs.aws.amazon.com/lambda/latest/dg/python-context.html"""

    function_name: str = "fanout-generator"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fanout-generator"
    aws_request_id: str = "6f1ad7c6-0000-4000-8000-000000000001"


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def invoke(lambda_context: LambdaContext):
    """Call the generator's Lambda entry point as the runtime does: (event, context)."""
    import handler

    return lambda event: handler.handler(event, lambda_context)


@pytest.fixture
def limits() -> dict:
    return dict(LIMITS)


@pytest.fixture
def generator_env(monkeypatch):
    """Set the generator's environment; returns a function (mode, **overrides) -> None."""

    def configure(mode: str, **overrides: str) -> None:
        env = {
            "FANOUT_MODE": mode,
            "FANOUT_LIMITS": json.dumps(LIMITS),
            "FANOUT_MODES": json.dumps(contract().mode_names),
            "FANOUT_ITEMS_PER_BATCH": "1000",
            "FANOUT_BUCKET": "" if mode == "inline" else BUCKET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        env.update(overrides)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("FANOUT_MAX_ITEMS", raising=False)
        if "FANOUT_MAX_ITEMS" in overrides:
            monkeypatch.setenv("FANOUT_MAX_ITEMS", overrides["FANOUT_MAX_ITEMS"])

    return configure


@pytest.fixture
def s3_bucket():
    """An in-process moto S3 with the test bucket; yields the boto3 client."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
