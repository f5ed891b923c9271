"""A real AWS account: your credentials, and the S3 backend your backend file names.

The same code also drives the local account posing as a real one (fake credentials and
``AWS_ENDPOINT_URL`` at the sandbox server): nothing here knows the difference.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from fanout_tools.errors import ConfigError
from fanout_tools.paths import terraform_dir
from fanout_tools.targets.base import BATCH_DEFAULT_LOG_GROUP, Backend, JobLog, JobRef, Target, state_key

if TYPE_CHECKING:
    import boto3


def backend_config_file() -> Path:
    override = os.environ.get("FANOUT_BACKEND_CONFIG")
    return Path(override).resolve() if override else terraform_dir() / "backends" / "aws.s3.tfbackend"


class AwsTarget(Target):
    name: ClassVar[str] = "aws"

    def prepare(self, start: bool = True) -> list[str]:
        self.caller_identity()
        config = backend_config_file()
        if not config.is_file():
            raise ConfigError(
                f"TARGET=aws needs the S3 backend config file {config}",
                "copy terraform/backends/aws.s3.tfbackend.example there and fill in bucket and region "
                "(or point FANOUT_BACKEND_CONFIG at such a file)",
            )
        from fanout_tools.tfvars import read_var_file

        if "key" in read_var_file(config):
            raise ConfigError(
                f"{config} sets `key`, but each stack's state key is derived from its name "
                f"({state_key('<name>')}), so stacks never share state",
                "remove the `key` line from the backend file",
            )
        return []

    def caller_identity(self) -> dict[str, str]:
        """STS GetCallerIdentity with the user's credentials; a one-line ConfigError when there are none."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return dict(self.client("sts").get_caller_identity())
        except (BotoCoreError, ClientError) as err:
            raise ConfigError(
                f"TARGET=aws needs AWS credentials, and none work here ({type(err).__name__})",
                "configure them (aws configure / AWS_PROFILE / AWS_ACCESS_KEY_ID...) or use TARGET=sandbox",
            ) from None

    def nothing_deployed(self) -> str | None:
        return None

    def aws_env(self) -> dict[str, str | None]:
        return {}  # the user's own credentials, profile and endpoint settings, as they are

    def session(self) -> boto3.session.Session:
        import boto3

        return boto3.session.Session(region_name=self.region)

    def backend(self, stack_name: str) -> Backend:
        return Backend(files=(backend_config_file(),), config={"key": state_key(stack_name)})

    def _job_log(self, outputs: dict[str, Any], job: JobRef) -> JobLog:
        group = str(outputs.get("batch_log_group_name") or BATCH_DEFAULT_LOG_GROUP)
        if not job.log_stream:
            return JobLog(f"{group} (stream not yet assigned)")
        try:
            events = self.client("logs").get_log_events(
                logGroupName=group, logStreamName=job.log_stream, limit=job.lines, startFromHead=False
            )["events"]
        except Exception:  # no access or no stream yet: the location is still worth showing
            events = []
        return JobLog(f"{group}:{job.log_stream}", tuple(str(e.get("message", "")) for e in events))

    def logs_hint(self, outputs: dict[str, Any]) -> str:
        return (
            f"logs: CloudWatch Logs groups {outputs.get('batch_log_group_name')} (jobs) and "
            f"{outputs.get('state_machine_log_group_name')} (state machine)"
        )

    def command_hint(self, make_args: str) -> str:
        return f"make {make_args} TARGET=aws"
