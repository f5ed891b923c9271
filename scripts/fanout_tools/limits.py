"""AWS limits, read from ``terraform/aws_limits.json`` (the single source Terraform reads too)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import cache

from fanout_tools.paths import terraform_dir


@dataclass(frozen=True)
class AwsLimits:
    sfn_payload_bytes: int
    sfn_history_events: int
    sfn_execution_timeout_max_seconds: int
    inline_map_max_concurrency: int
    distributed_map_max_concurrency: int
    distributed_map_label_max_length: int
    batch_array_size_min: int
    batch_array_size_max: int
    batch_submit_job_payload_bytes: int
    batch_submit_job_tps: int
    batch_retry_attempts_max: int
    batch_attempt_timeout_min_seconds: int
    batch_name_pattern: str
    lambda_sync_response_bytes: int
    item_reader_max_items: int
    item_reader_max_file_bytes: int


@cache
def aws_limits() -> AwsLimits:
    raw = json.loads((terraform_dir() / "aws_limits.json").read_text())
    return AwsLimits(**{f.name: raw[f.name] for f in fields(AwsLimits)})
