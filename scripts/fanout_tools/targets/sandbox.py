"""The local sandbox account: the emulator in :mod:`fanout_tools.sandbox`, started on demand.

It is used the way a real account is: fake credentials and ``AWS_ENDPOINT_URL`` point Terraform,
boto3 and every process the tooling starts at it, and the Terraform state lives in an S3 bucket
inside it. The state therefore lives and dies with the resources it describes: a restarted sandbox
is a clean account with no state, never a state that lists resources that are gone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from fanout_tools.errors import SandboxError
from fanout_tools.targets.base import Backend, JobLog, JobRef, Target, state_key

if TYPE_CHECKING:
    import boto3

    from fanout_tools.sandbox.control import SandboxInfo

STATE_BUCKET = "fanout-terraform-state"
STATE_BUCKET_REGION = "us-east-1"


class SandboxTarget(Target):
    name: ClassVar[str] = "sandbox"

    def __init__(self, region: str | None = None, home: Path | None = None) -> None:
        super().__init__(region)
        self.home = home  # None: the checkout's sandbox (.fanout/sandbox); else a private one
        self._info: SandboxInfo | None = None

    @property
    def info(self) -> SandboxInfo:
        if self._info is None:
            from fanout_tools.sandbox import control

            self._info = control.require_running(self.home)
        return self._info

    def prepare(self, start: bool = True) -> list[str]:
        from fanout_tools.sandbox import control

        notes: list[str] = []
        if start:
            self._info, notes = control.up(home=self.home)
        else:
            running = control.current(self.home)
            if running is None:
                raise SandboxError(
                    "nothing is deployed: the sandbox is not running", "run `make apply` first"
                )
            self._info = running
            stale = control.stale_code_note(self.home)
            notes = [stale] if stale else []
        s3 = self.client("s3", region=STATE_BUCKET_REGION)
        try:
            s3.head_bucket(Bucket=STATE_BUCKET)
        except s3.exceptions.ClientError:
            s3.create_bucket(Bucket=STATE_BUCKET)
        return notes

    def nothing_deployed(self) -> str | None:
        from fanout_tools.sandbox import control

        control.stop_strays(self.home)  # a server nobody recorded holds nothing anyone can reach
        return (
            "the sandbox is not running, so it holds nothing" if control.current(self.home) is None else None
        )

    def endpoint_url(self) -> str:
        return self.info.endpoint

    def aws_env(self) -> dict[str, str | None]:
        from fanout_tools.sandbox import layout

        env: dict[str, str | None] = {
            key: (value or None)
            for key, value in layout.sandbox_credentials_env(self.info.port, self.region).items()
        }
        # No AWS variable of the user's shell survives: nothing can reach a real account.
        for key in os.environ:
            if key.startswith("AWS_") and key not in env:
                env[key] = None
        return env

    def session(self) -> boto3.session.Session:
        import boto3

        from fanout_tools.sandbox.layout import FAKE_ACCESS_KEY, FAKE_SECRET_KEY

        return boto3.session.Session(
            aws_access_key_id=FAKE_ACCESS_KEY, aws_secret_access_key=FAKE_SECRET_KEY, region_name=self.region
        )

    def backend(self, stack_name: str) -> Backend:
        return Backend(
            config={
                "bucket": STATE_BUCKET,
                "key": state_key(stack_name),
                "region": STATE_BUCKET_REGION,
                "use_lockfile": "true",
            }
        )

    def terraform_variables(self) -> dict[str, str]:
        # The sandbox is disposable: let destroy remove a bucket that still holds run objects.
        return {"bucket_force_destroy": "true"}

    def after_destroy(self, keep_running: bool) -> list[str]:
        from fanout_tools.sandbox import control

        if keep_running:
            return []
        others = self.stacks()
        if others:
            return [f"the sandbox keeps running: it still holds the stack(s) {', '.join(others)}"]
        stopped = control.down(self.home)
        return [f"sandbox stopped (pid {stopped.pid})"] if stopped else []

    def _job_log(self, outputs: dict[str, Any], job: JobRef) -> JobLog:
        from fanout_tools.sandbox import layout

        jobs = layout.jobs_dir(layout.sandbox_dir(self.home))
        if job.array:
            return JobLog(str(jobs / f"{job.job_id}:<index>.log"))
        path = jobs / f"{job.job_id}.log"
        try:
            text = path.read_text(errors="replace").splitlines()
        except OSError:
            text = []
        return JobLog(str(path), tuple(text[-job.lines :]))

    def logs_hint(self, outputs: dict[str, Any]) -> str:
        from fanout_tools.sandbox import layout

        home = layout.sandbox_dir(self.home)
        jobs, server = layout.jobs_dir(home), layout.server_log(self.home)
        return f"logs: job output in {jobs}/<job id>.log; server log {server}"
