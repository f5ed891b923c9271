"""What every target provides. A verb asks its target; it never asks which target it has."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import boto3

DEFAULT_REGION = "us-east-1"
# Every stack has its own state object, keyed by its name, so two stacks (a user's and the
# integration tests', or the bench's designs) can never plan against each other's state.
STATE_KEY_PREFIX = "sfn-batch-fanout"
LOG_TAIL_LINES = 4
# Where AWS Batch's awslogs driver writes when a job definition names no group.
# https://docs.aws.amazon.com/batch/latest/userguide/using_awslogs.html
BATCH_DEFAULT_LOG_GROUP = "/aws/batch/job"
# A Batch job's states in the order it passes them; it ends in one of the last two, the others are
# open (https://docs.aws.amazon.com/batch/latest/userguide/job_states.html).
BATCH_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
BATCH_OPEN_STATUSES, BATCH_ENDED_STATUSES = BATCH_STATUSES[:5], BATCH_STATUSES[5:]
# botocore's retry policies (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html).
DEFAULT_RETRIES: dict[str, Any] = {"max_attempts": 5, "mode": "standard"}
# For bursts of calls that a service throttles (Batch TerminateJob/DescribeJobs answer
# TooManyRequestsException): adaptive mode retries with backoff and jitter and slows the client down.
THROTTLED_RETRIES: dict[str, Any] = {"max_attempts": 10, "mode": "adaptive"}


def state_key(stack_name: str) -> str:
    return f"{STATE_KEY_PREFIX}/{stack_name}/terraform.tfstate"


@dataclass(frozen=True)
class Backend:
    """How ``terraform init`` configures the S3 backend: files first, then key=value pairs."""

    files: tuple[Path, ...] = ()
    config: dict[str, str] = field(default_factory=dict)

    def setting(self, key: str) -> str | None:
        """A setting as ``terraform init`` sees it: key=value pairs win over the files (last file wins)."""
        if key in self.config:
            return self.config[key]
        from fanout_tools.tfvars import read_var_file

        found: str | None = None
        for path in self.files:
            value = read_var_file(path).get(key)
            if isinstance(value, str):
                found = value
        return found


@dataclass(frozen=True)
class JobRef:
    """Which job's output to read: a job (or an array parent), its stream, how many last lines."""

    job_id: str
    log_stream: str | None
    array: bool
    lines: int


@dataclass(frozen=True)
class JobLog:
    """Where a job's output is, and its last lines (empty when there is nothing to read yet)."""

    location: str
    lines: tuple[str, ...] = ()


class Target(ABC):
    """An account to deploy to and run in."""

    name: ClassVar[str]

    def __init__(self, region: str | None = None) -> None:
        self.region = region or DEFAULT_REGION

    # --- the account -------------------------------------------------------------------------

    @abstractmethod
    def prepare(self, start: bool = True) -> list[str]:
        """Make the account usable (``start=False``: only check that it is); returns notes to print."""

    @abstractmethod
    def nothing_deployed(self) -> str | None:
        """Why nothing can be deployed there, when that is known without asking the account."""

    @abstractmethod
    def aws_env(self) -> dict[str, str | None]:
        """Environment for every process that calls AWS for this target (None unsets a variable)."""

    @abstractmethod
    def session(self) -> boto3.session.Session:
        """A boto3 session with this target's credentials."""

    def endpoint_url(self) -> str | None:
        """Where API calls go when it is not AWS's own endpoint."""
        return None

    def client(self, service: str, region: str | None = None, retries: dict[str, Any] | None = None) -> Any:
        """A client of ``service``; ``retries`` is botocore's retry configuration (default: standard
        mode, 5 attempts), e.g. :data:`THROTTLED_RETRIES` for calls made in bursts."""
        from botocore.config import Config

        kwargs: dict[str, Any] = {
            "region_name": region or self.region,
            "config": Config(retries=retries or DEFAULT_RETRIES),
        }
        if self.endpoint_url():
            kwargs["endpoint_url"] = self.endpoint_url()
        return self.session().client(service, **kwargs)

    # --- Terraform ---------------------------------------------------------------------------

    @abstractmethod
    def backend(self, stack_name: str) -> Backend:
        """The S3 backend settings for ``stack_name``'s state."""

    def terraform_variables(self) -> dict[str, str]:
        """Stack variables this target sets (below the user's var files in precedence)."""
        return {}

    def _state_bucket(self, stack_name: str) -> tuple[Any, Backend, str] | None:
        """An S3 client for the backend's bucket, the backend and the bucket; None without a bucket."""
        backend = self.backend(stack_name)
        bucket = backend.setting("bucket")
        if not bucket:
            return None
        return self.client("s3", region=backend.setting("region")), backend, bucket

    def state_version(self, stack_name: str) -> str | None:
        """The ETag of ``stack_name``'s state object: any write of the state (an apply or destroy from
        anywhere) changes it (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
        None when there is no state yet or it cannot be read."""
        found = self._state_bucket(stack_name)
        if found is None:
            return None
        s3, backend, bucket = found
        key = backend.setting("key")
        if not key:
            return None
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except Exception:  # no state, no access, no endpoint: terraform output says what is wrong
            return None
        return str(head.get("ETag") or "") or None

    def stacks(self) -> list[str]:
        """Names of the stacks whose state this target's backend holds."""
        found = self._state_bucket("-")
        if found is None:
            return []
        s3, _, bucket = found
        names: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{STATE_KEY_PREFIX}/"
        ):
            for item in page.get("Contents", []):
                parts = item["Key"].split("/")
                if len(parts) == 3 and parts[2] == "terraform.tfstate" and item.get("Size", 0) > 0:
                    names.append(parts[1])
        return sorted(set(names))

    def after_destroy(self, keep_running: bool) -> list[str]:
        """Clean-up after a stack was destroyed; returns notes to print."""
        return []

    # --- what users read ---------------------------------------------------------------------

    def job_log(
        self,
        outputs: dict[str, Any],
        job_id: str,
        log_stream: str | None,
        array: bool = False,
        lines: int = LOG_TAIL_LINES,
    ) -> JobLog:
        """Where a job's output is (an array parent: where its children's are) and its last ``lines``."""
        return self._job_log(outputs, JobRef(job_id, log_stream, array, lines))

    @abstractmethod
    def _job_log(self, outputs: dict[str, Any], job: JobRef) -> JobLog:
        """:meth:`job_log` for this target."""

    @abstractmethod
    def logs_hint(self, outputs: dict[str, Any]) -> str:
        """One line: where all the logs of a run are."""

    def command_hint(self, make_args: str) -> str:
        """A make command for this target, e.g. ``make run ITEMS=25`` (plus ``TARGET=aws`` on aws)."""
        return f"make {make_args}"
