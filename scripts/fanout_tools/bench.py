"""``fanout bench``: every fan-out mode beside the AWS sample's design, measured in the same run.

What is measured, and how (the README's "Benchmark" section shows a saved table):

* **Executions** run in the local sandbox account with the real rendered definitions, the real
  generator zip and real Batch jobs (a cheap job command, so the figures are the orchestration's).
  Parent history events and billed state transitions (``*StateEntered`` events: AWS bills one
  transition per state entered) come from ``GetExecutionHistory``. Batch ``SubmitJob`` calls are the
  jobs the queue received (array children are not submissions). Distributed Map children run inside
  the emulator without their own history, so their events and transitions are *modelled* from the
  rendered ASL structure (``lambda/generator/capacity.py``) and marked ``~``.
* **Generator** time and peak memory: the real handler in a fresh process writing to the sandbox's S3,
  peak RSS of that whole process (interpreter and boto3 included).
* **Capacity**: the largest item count each design handles under AWS limits, and the limit that binds.
* Sizes the sandbox cannot run in a reasonable time (or that exceed a design's capacity) are shown as
  projections from the measured per-item/per-batch figures, marked ``~``, or as refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from fanout_tools.errors import ConfigError, FanoutError
from fanout_tools.paths import build_dir, lambda_dir, repo_root, terraform_dir

log = logging.getLogger(__name__)

SAMPLE = "sample"
MODES = ("inline", "array", "distributed", "distributed_array")
DEFAULT_SIZES = (100, 1_000, 10_000, 1_000_000)
# Largest execution each design runs locally by default: beyond it the emulator's per-job cost
# (one host process and one .sync poller per job) makes a run take minutes; figures are projected.
LOCAL_RUN_CEILING = {
    SAMPLE: 100,
    "inline": 1_000,
    "array": 10_000,
    "distributed": 1_000,
    "distributed_array": 10_000,
}
ITEMS_PER_BATCH = 1_000
ARRAY_ITEMS_PER_BATCH = 10_000
EXECUTION_TIMEOUT_SECONDS = 900


def capacity_module() -> ModuleType:
    """``lambda/generator/capacity.py``: the one place the per-mode formulas live."""
    from fanout_tools import generator

    return generator.load("capacity")


def limits_json() -> dict[str, Any]:
    return json.loads((terraform_dir() / "aws_limits.json").read_text())


def bench_items_per_batch(mode: str) -> int:
    """Array modes batch as much as one array job holds; the others a child's worth."""
    return ARRAY_ITEMS_PER_BATCH if "array" in mode else ITEMS_PER_BATCH


def generator_env(mode: str, items_per_batch: int, bucket: str | None) -> dict[str, str]:
    """The generator's environment, as the generator module in Terraform sets it (FANOUT_*)."""
    env = {
        "FANOUT_MODE": mode,
        "FANOUT_RUNS_PREFIX": "runs/",
        "FANOUT_ITEMS_PER_BATCH": str(items_per_batch),
        "FANOUT_LIMITS": json.dumps(limits_json()),
    }
    if bucket:
        env["FANOUT_BUCKET"] = bucket
    return env


def sample_definition(function_arn: str, job_queue_arn: str, job_definition: str) -> dict[str, Any]:
    """The AWS sample's design, pointed at this stack's resources.

    The sample: https://docs.aws.amazon.com/step-functions/latest/dg/sample-batch-fan-out.html

    Unchanged: legacy Iterator and Map Parameters, no MaxConcurrency, no Retry, no ResultSelector, every job
    identical. One adaptation: our generator returns ``{"items": [...]}``, so OutputPath takes
    ``$.Payload.items`` where the sample's generator returned a bare array (``$.Payload``).
    """
    return {
        "Comment": "AWS sample design: fan out batch jobs",
        "StartAt": "Generate batch job input",
        "TimeoutSeconds": 3600,
        "States": {
            "Generate batch job input": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "OutputPath": "$.Payload.items",
                "Parameters": {"FunctionName": function_arn, "Payload": {"input.$": "$"}},
                "Next": "Fan out batch jobs",
            },
            "Fan out batch jobs": {
                "Type": "Map",
                "End": True,
                "ItemsPath": "$",
                "Parameters": {"BatchNumber.$": "$$.Map.Item.Value"},
                "Iterator": {
                    "StartAt": "Submit Batch Job",
                    "States": {
                        "Submit Batch Job": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::batch:submitJob.sync",
                            "Parameters": {
                                "JobName": "BatchJobFanOut",
                                "JobQueue": job_queue_arn,
                                "JobDefinition": job_definition,
                            },
                            "End": True,
                        }
                    },
                },
            },
        },
    }


@dataclass
class Row:
    design: str
    items: int
    status: str = ""
    events_per_item: str = ""
    transitions_per_item: str = ""
    submit_jobs_per_item: str = ""
    generator_seconds: str = ""
    generator_peak_mib: str = ""
    wall_seconds: str = ""
    note: str = ""


@dataclass
class Stack:
    """Resources of one bench run in the sandbox."""

    clients: dict[str, Any]
    endpoint: str
    region: str
    bucket: str
    role_arn: str
    job_queue_arn: str
    job_definition: str
    state_machines: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)


def _fmt(value: float, projected: bool = False) -> str:
    text = f"{value:.4f}" if value < 0.1 else f"{value:.2f}"
    return f"~{text}" if projected else text


def _clients(endpoint: str, region: str) -> dict[str, Any]:
    import boto3

    from fanout_tools.sandbox.layout import FAKE_ACCESS_KEY, FAKE_SECRET_KEY

    session = boto3.session.Session(
        aws_access_key_id=FAKE_ACCESS_KEY, aws_secret_access_key=FAKE_SECRET_KEY, region_name=region
    )
    return {
        name: session.client(name, endpoint_url=endpoint)
        for name in ("iam", "ec2", "batch", "lambda", "s3", "stepfunctions")
    }


# `true` ignores its arguments: the bench's figures are the orchestration's, not a workload's.
CHEAP_COMMAND = ["true", "Ref::item"]


def build_stack(
    endpoint: str,
    region: str,
    zip_bytes: bytes,
    modes: list[str],
    *,
    items_per_batch: int | None = None,
    single_command: list[str] | None = None,
    array_command: list[str] | None = None,
    execution_timeout: float = EXECUTION_TIMEOUT_SECONDS,
) -> Stack:
    """Create resources for ``modes`` in the sandbox (unique names, so runs never collide).

    The real rendered definitions and the real generator zip; two job definitions, one per job kind
    (``Ref::item`` for one job per item, ``Ref::items_uri`` for array children).
    """
    from fanout_tools import render

    suffix = uuid.uuid4().hex[:8]
    c = _clients(endpoint, region)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "Service": ["states.amazonaws.com", "lambda.amazonaws.com", "batch.amazonaws.com"]
                },
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = c["iam"].create_role(RoleName=f"bench-{suffix}", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    vpc = c["ec2"].create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet = c["ec2"].create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    group = c["ec2"].create_security_group(GroupName=f"bench-{suffix}", Description="bench", VpcId=vpc)[
        "GroupId"
    ]
    env_name = f"bench-{suffix}"
    c["batch"].create_compute_environment(
        computeEnvironmentName=env_name,
        type="MANAGED",
        state="ENABLED",
        serviceRole=role_arn,
        computeResources={
            "type": "FARGATE",
            "maxvCpus": 16,
            "subnets": [subnet],
            "securityGroupIds": [group],
        },
    )
    queue_arn = c["batch"].create_job_queue(
        jobQueueName=env_name,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env_name}],
    )["jobQueueArn"]
    for suffix_kind, command in (("single", single_command), ("array", array_command)):
        c["batch"].register_job_definition(
            jobDefinitionName=f"{env_name}-{suffix_kind}",
            type="container",
            parameters={"item": "{}", "items_uri": "none"},
            platformCapabilities=["FARGATE"],
            containerProperties={
                "image": "public.ecr.aws/amazonlinux/amazonlinux:2023-minimal",
                "command": command or CHEAP_COMMAND,
                "executionRoleArn": role_arn,
                "resourceRequirements": [
                    {"type": "VCPU", "value": "0.25"},
                    {"type": "MEMORY", "value": "512"},
                ],
            },
        )
    bucket = f"bench-{suffix}"
    c["s3"].create_bucket(Bucket=bucket)
    stack = Stack(c, endpoint, region, bucket, role_arn, queue_arn, env_name)
    account = queue_arn.split(":")[4]
    for design in modes:
        mode = "inline" if design == SAMPLE else design
        fn_name = f"bench-{design.replace('_', '-')}-{suffix}"
        per_batch = items_per_batch or bench_items_per_batch(mode)
        job_definition = f"{env_name}-{'array' if 'array' in mode else 'single'}"
        fn_arn = c["lambda"].create_function(
            FunctionName=fn_name,
            Runtime="python3.12",
            Role=role_arn,
            Handler="handler.handler",
            Code={"ZipFile": zip_bytes},
            Timeout=900,
            MemorySize=1024,
            Environment={"Variables": generator_env(mode, per_batch, bucket if mode != "inline" else None)},
        )["FunctionArn"]
        stack.functions[design] = fn_arn
        sm_name = f"bench-{design.replace('_', '-')}-{suffix}"
        if design == SAMPLE:
            definition = json.dumps(sample_definition(fn_arn, queue_arn, job_definition))
        else:
            definition = render.render_concrete(
                mode,
                {
                    "partition": "aws",
                    "region": region,
                    "account_id": account,
                    "state_machine_name": sm_name,
                    "generator_function_name": fn_name,
                    "generator_function_arn": fn_arn,
                    "job_queue_name": env_name,
                    "job_queue_arn": queue_arn,
                    "job_definition_name": job_definition,
                    "bucket_name": bucket if mode != "inline" else "",
                    "runs_prefix": "runs/",
                    "max_concurrency": 40 if mode in ("inline", "array") else 100,
                    "items_per_batch": per_batch,
                    # The definition's own TimeoutSeconds: a local run is stopped by it, not by the poller.
                    "execution_timeout_seconds": int(execution_timeout),
                },
            )
        stack.state_machines[design] = c["stepfunctions"].create_state_machine(
            name=sm_name, definition=definition, roleArn=role_arn, type="STANDARD"
        )["stateMachineArn"]
    return stack


def submitted_jobs(stack: Stack) -> int:
    """Jobs the queue has received (SubmitJob calls; array children are listed only under their parent)."""
    batch = stack.clients["batch"]
    total = 0
    for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "jobQueue": stack.job_queue_arn,
                "jobStatus": status,
                "maxResults": 1000,
            }
            if token:
                kwargs["nextToken"] = token
            page = batch.list_jobs(**kwargs)
            # The emulator lists array children (``<parent id>:<index>``) too; AWS lists them only
            # under their parent. Neither is a SubmitJob call.
            total += sum(1 for job in page["jobSummaryList"] if ":" not in job["jobId"])
            token = page.get("nextToken")
            if not token:
                break
    return total


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events


def run_execution(
    stack: Stack, design: str, count: int, timeout: float = EXECUTION_TIMEOUT_SECONDS
) -> dict[str, Any]:
    sfn = stack.clients["stepfunctions"]
    before = submitted_jobs(stack)
    started = time.perf_counter()
    arn = sfn.start_execution(
        stateMachineArn=stack.state_machines[design],
        name=f"{design.replace('_', '-')}-{count}-{uuid.uuid4().hex[:6]}",
        input=json.dumps({"count": count}),
    )["executionArn"]
    while True:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            break
        if time.perf_counter() - started > timeout:
            sfn.stop_execution(executionArn=arn, error="BenchTimeout")
            status = "TIMED_OUT"
            break
        time.sleep(0.2)
    wall = time.perf_counter() - started
    events = history(sfn, arn)
    if status == "SUCCEEDED":
        # The emulator ignores ToleratedFailurePercentage and lets a Map Run with failed children
        # succeed; AWS (with the 0% default) fails it. Report what AWS would.
        for run in sfn.list_map_runs(executionArn=arn)["mapRuns"]:
            failed = sfn.describe_map_run(mapRunArn=run["mapRunArn"])["itemCounts"]["failed"]
            if failed:
                status = f"FAILED ({failed} batch(es) failed)"
    # The sandbox finishes a job's bookkeeping just after the execution sees it; let it settle.
    time.sleep(0.5)
    return {
        "status": status,
        "wall": wall,
        "events": len(events),
        "transitions": sum(1 for e in events if e["type"].endswith("StateEntered")),
        "submits": submitted_jobs(stack) - before,
        "output_bytes": len((sfn.describe_execution(executionArn=arn).get("output") or "").encode()),
    }


def measure_generator(stack: Stack | None, mode: str, count: int, zip_dir: Path) -> dict[str, float]:
    """Run the real handler in a fresh process; returns seconds and peak RSS (MiB) of that process."""
    from fanout_tools.sandbox.layout import clean_env, sandbox_credentials_env

    per_batch = bench_items_per_batch(mode)
    env = generator_env(mode, per_batch, stack.bucket if stack is not None else None)
    if stack is not None:
        env.update(sandbox_credentials_env(int(stack.endpoint.rsplit(":", 1)[1]), stack.region))
    event = {"input": {"count": count}, "execution_name": f"bench-gen-{mode}-{count}"}
    code = (
        "import json, resource, sys, time\n"
        f"sys.path.insert(0, {str(zip_dir)!r})\n"
        "import handler\n"
        "t = time.perf_counter()\n"
        f"out = handler.handler({event!r})\n"
        "seconds = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'seconds': seconds, 'peak_mib': peak, 'count': out['count']}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise FanoutError(
            f"generator benchmark ({mode}, {count:,} items) failed:\n{proc.stderr.strip()[-2000:]}"
        )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["count"] != count:
        raise FanoutError(f"generator returned {result['count']} items for {count}")
    return result


def transitions_model(cap: ModuleType, mode: str, count: int, per_batch: int) -> dict[str, int]:
    """Billed transitions (states entered) of one successful execution, from the rendered structure."""
    batches = -(-count // per_batch) if count else 0
    parent_fixed = 2  # GenerateItems + the Map state
    if mode in ("inline", SAMPLE):
        return {"parent": parent_fixed + count, "children": 0}
    if mode == "array":
        return {"parent": parent_fixed + 2 * batches, "children": 0}  # Choice + Task per batch
    if mode == "distributed":
        return {"parent": parent_fixed, "children": batches + count}  # child Map + Task per item
    return {"parent": parent_fixed, "children": 2 * batches}  # Choice + Task per child


def bench(
    sizes: list[int],
    designs: list[str],
    out: Path,
    run_executions: bool = True,
    run_ceiling: int | None = None,
    execution_timeout: float = EXECUTION_TIMEOUT_SECONDS,
) -> list[Row]:
    from fanout_tools import package
    from fanout_tools.sandbox import control

    build = package.build(lambda_dir() / "generator", build_dir() / "generator.zip")
    zip_dir = Path(build.path).parent / "bench-generator-src"
    _extract(Path(build.path), zip_dir)

    already_running = control.current() is not None
    info, _notes = control.up()
    try:
        return _bench_in(
            info, build, zip_dir, sizes, designs, out, run_executions, run_ceiling, execution_timeout
        )
    finally:
        if not already_running:  # leave the sandbox as it was found
            control.down()


def _bench_in(
    info: Any,
    build: Any,
    zip_dir: Path,
    sizes: list[int],
    designs: list[str],
    out: Path,
    run_executions: bool,
    run_ceiling: int | None,
    execution_timeout: float,
) -> list[Row]:
    cap = capacity_module()
    limits = limits_json()
    region = "us-east-1"
    stack = build_stack(
        info.endpoint, region, Path(build.path).read_bytes(), designs, execution_timeout=execution_timeout
    )

    rows: list[Row] = []
    capacities: dict[str, Any] = {}
    for design in designs:
        mode = "inline" if design == SAMPLE else design
        per_batch = bench_items_per_batch(mode)
        ceiling = LOCAL_RUN_CEILING[design] if run_ceiling is None else run_ceiling
        capacity = cap.capacity(mode, limits, items_per_batch=per_batch, item_bytes=len('{"index":999999}'))
        if design == SAMPLE:
            # History bound until a run measures the sample's untrimmed .sync results (below).
            history_cap = (limits["sfn_history_events"] - cap.PARENT_FIXED_EVENTS) // cap.ITEM_TASK_EVENTS
            capacity = cap.Capacity(
                SAMPLE, history_cap, "sfn_history_events", f"{cap.ITEM_TASK_EVENTS} events per item"
            )
        capacities[design] = capacity
        for count in sorted(sizes):
            row = Row(design, count)
            if count > capacity.max_items and design != SAMPLE:
                row.status = "refused"
                row.note = f"over {capacity.binding_limit} (max {capacity.max_items:,}); fits: " + ", ".join(
                    cap.modes_that_fit(count, limits, items_per_batch=per_batch)
                )
                rows.append(row)
                continue
            gen = None
            if design != SAMPLE and (mode != "inline" or count <= capacity.max_items):
                gen = measure_generator(stack if mode != "inline" else None, mode, count, zip_dir)
                row.generator_seconds = _fmt(gen["seconds"])
                row.generator_peak_mib = f"{gen['peak_mib']:.0f}"
            if run_executions and count <= ceiling:
                result = run_execution(stack, design, count, execution_timeout)
                row.status = result["status"]
                row.wall_seconds = _fmt(result["wall"])
                children = 0
                child_transitions = 0
                if mode in ("distributed", "distributed_array"):
                    children = cap.history_events(mode, count, per_batch)["children"]
                    child_transitions = transitions_model(cap, mode, count, per_batch)["children"]
                modelled = mode in ("distributed", "distributed_array")
                row.events_per_item = _fmt((result["events"] + children) / count, modelled)
                row.transitions_per_item = _fmt((result["transitions"] + child_transitions) / count, modelled)
                row.submit_jobs_per_item = _fmt(result["submits"] / count)
                if design == SAMPLE and result["status"] == "SUCCEEDED":
                    # No ResultSelector: the Map output keeps every job's full description.
                    per_item = max(1, result["output_bytes"] // count)
                    payload_cap = limits["sfn_payload_bytes"] // per_item
                    if payload_cap < capacity.max_items:
                        capacity = cap.Capacity(
                            SAMPLE,
                            payload_cap,
                            "sfn_payload_bytes",
                            f"untrimmed .sync results, {per_item:,} bytes per item (measured here)",
                        )
                        capacities[design] = capacity
                if design == SAMPLE and count > capacity.max_items:
                    row.note = f"fails in AWS: {capacity.detail}"
            else:
                events = cap.history_events(mode, count, per_batch)
                moves = transitions_model(cap, mode, count, per_batch)
                batches = -(-count // per_batch)
                submits = count if mode in ("inline", "distributed") else batches
                row.status = "projected" if count <= capacity.max_items else "fails in AWS"
                row.events_per_item = _fmt((events["parent"] + events["children"]) / count, True)
                row.transitions_per_item = _fmt((moves["parent"] + moves["children"]) / count, True)
                row.submit_jobs_per_item = _fmt(submits / count, True)
                if design == SAMPLE and count > capacity.max_items:
                    row.note = f"{capacity.binding_limit}: {capacity.detail}"
            rows.append(row)
            log.info("bench %s %s: %s", design, count, row)
    write_report(rows, capacities, out)
    return rows


def _extract(zip_path: Path, dest: Path) -> None:
    import shutil
    import zipfile

    if dest.exists():
        shutil.rmtree(dest)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)


COLUMNS = (
    ("design", "design"),
    ("items", "items"),
    ("status", "status"),
    ("events_per_item", "history events/item"),
    ("transitions_per_item", "billed transitions/item"),
    ("submit_jobs_per_item", "SubmitJob calls/item"),
    ("generator_seconds", "generator s"),
    ("generator_peak_mib", "generator peak MiB"),
    ("wall_seconds", "local wall s"),
    ("note", "note"),
)


def table(rows: list[Row]) -> str:
    header = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    lines = [header, rule]
    for row in rows:
        cells = [f"{getattr(row, key):,}" if key == "items" else str(getattr(row, key)) for key, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(rows: list[Row], capacities: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    cap_lines = ["| design | largest execution under AWS limits | binding limit | why |", "|---|---|---|---|"]
    for design, capacity in capacities.items():
        cap_lines.append(
            f"| {design} | {capacity.max_items:,} | {capacity.binding_limit} | {capacity.detail} |"
        )
    text = (
        "# Fan-out benchmark\n\n"
        f"Measured {time.strftime('%Y-%m-%d %H:%M:%S %Z')} on {os.cpu_count()} cores, sandbox account.\n"
        "`~` = modelled from the rendered ASL structure or projected from measured per-batch figures;\n"
        "billed transitions = states entered (what AWS bills Standard workflows for).\n\n"
        + table(rows)
        + "\n\n## Capacity per design\n\n"
        + "\n".join(cap_lines)
        + "\n"
    )
    out.write_text(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="comma-separated item counts (default: %(default)s)",
    )
    parser.add_argument(
        "--designs",
        default=",".join((SAMPLE, *MODES)),
        help="comma-separated designs: sample and/or modes (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to save the table (default reports/bench.md)"
    )
    parser.add_argument("--no-executions", action="store_true", help="only the generator and the projections")
    parser.add_argument(
        "--run-ceiling", type=int, default=None, help="largest execution to run locally (default: per design)"
    )
    parser.add_argument(
        "--execution-timeout",
        type=float,
        default=EXECUTION_TIMEOUT_SECONDS,
        help="stop an execution that runs longer than this many seconds (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(
            f"--sizes {args.sizes!r} is not a list of integers", "e.g. --sizes 100,1000,10000"
        ) from None
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError("--sizes needs positive item counts", "e.g. --sizes 100,1000")
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = sorted(set(designs) - {SAMPLE, *MODES})
    if unknown:
        raise ConfigError(f"unknown design(s) {unknown}", f"use {SAMPLE} and/or {', '.join(MODES)}")
    out = args.out or repo_root() / "reports" / "bench.md"
    rows = bench(
        sizes,
        designs,
        out,
        run_executions=not args.no_executions,
        run_ceiling=args.run_ceiling,
        execution_timeout=args.execution_timeout,
    )
    sys.stdout.write(table(rows) + f"\n\nsaved: {out}\n")
    return 0
