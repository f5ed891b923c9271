"""Deploy one Terraform stack per design, run its executions and its generator, and collect the figures.

Every stack is ``terraform/`` applied through :func:`fanout_tools.deploy.open_stack` with a var file
written under ``<runtime dir>/bench/`` (:func:`fanout_tools.bench.designs.stack_variables`), so what is
measured is what ``make apply`` deploys. The applies run in parallel threads (each stack has its own
Terraform data dir and state key, and an apply mostly waits on the provider); the executions run one
design at a time, so they do not compete for the machine.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fanout_tools.bench import report
from fanout_tools.bench.designs import (
    EXECUTION_TIMEOUT_SECONDS,
    MODES,
    SAMPLE,
    mode_of,
    stack_name,
    stack_variables,
    stacks_needed,
    tasks,
)
from fanout_tools.contract import contract
from fanout_tools.errors import FanoutError
from fanout_tools.paths import build_dir, runtime_dir
from fanout_tools.targets.base import BATCH_STATUSES

log = logging.getLogger(__name__)

TARGET = "sandbox"
# A run is stopped by its definition's TimeoutSeconds; the poller waits this much longer.
POLL_GRACE_SECONDS = 60.0
# How often the bench reads the execution while it runs. Its figures come from the execution's own
# start and stop dates, so polling more often measures nothing better; it only loads the machine being
# measured (each poll reads the whole history again: at 0.2 s, the polls were a third of the sandbox
# server's Python time in a 100,000-item run).
POLL_SECONDS = 2.0


@dataclass
class Deployed:
    design: str
    stack: Any  # fanout_tools.deploy.Stack
    outputs: dict[str, Any]


def var_file(design: str, execution_timeout: float) -> Path:
    folder = runtime_dir() / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stack_name(design)}.tfvars.json"
    path.write_text(json.dumps(stack_variables(design, execution_timeout), indent=2) + "\n")
    return path


def apply_stacks(files: dict[str, Path], opened: list[Any]) -> dict[str, Deployed]:
    """Apply one sandbox stack per ``{key: var file}``, in parallel threads; ``opened`` collects each stack
    as soon as it is initialised (so the caller can destroy whatever was created, even when an apply fails).

    The account is prepared and the generator packaged once, before the threads start.
    """
    from fanout_tools import deploy as stacks
    from fanout_tools.targets import resolve

    for note in resolve(TARGET).prepare(start=True):
        print(f"note: {note}")
    stacks.package_generator()
    lock = threading.Lock()

    def apply(key: str) -> Deployed:
        started = time.monotonic()
        stack = stacks.open_stack(TARGET, [files[key]], start=True, package=False)
        with lock:
            opened.append(stack)
        stack.runner().apply(capture=True)
        print(f"applied stack {stack.name} in {stacks.elapsed(started)}", flush=True)
        return Deployed(key, stack, stack.outputs())

    keys = list(files)
    with ThreadPoolExecutor(max_workers=max(1, len(keys))) as pool:
        return dict(zip(keys, pool.map(apply, keys), strict=True))


def deploy(designs: list[str], execution_timeout: float, opened: list[Any]) -> dict[str, Deployed]:
    """Every design's stack, applied in parallel (see :func:`apply_stacks`)."""
    started = time.monotonic()
    print(f"bench: applying {len(designs)} stack(s) in parallel: {', '.join(map(stack_name, designs))}")
    done = apply_stacks({design: var_file(design, execution_timeout) for design in designs}, opened)
    print(f"bench: {len(designs)} stack(s) applied in {time.monotonic() - started:.1f} s", flush=True)
    return done


def destroy(opened: list[Any]) -> None:
    if not opened:
        return
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(opened)) as pool:
        list(pool.map(lambda stack: stack.runner().destroy(capture=True), opened))
    print(f"bench: {len(opened)} stack(s) destroyed in {time.monotonic() - started:.1f} s")


def submitted_jobs(batch: Any, queue: str) -> int:
    """Jobs the queue has received (SubmitJob calls; array children are listed only under their parent)."""
    total = 0
    for status in BATCH_STATUSES:
        kwargs: dict[str, Any] = {"jobQueue": queue, "jobStatus": status, "maxResults": 1000}
        while True:
            page = batch.list_jobs(**kwargs)
            # The emulator lists array children (``<parent id>:<index>``) too; AWS lists them only
            # under their parent. Neither is a SubmitJob call.
            total += sum(1 for job in page["jobSummaryList"] if ":" not in job["jobId"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    return total


def execute(deployed: Deployed, count: int, timeout: float = EXECUTION_TIMEOUT_SECONDS) -> report.Execution:
    """One ``{"count": N}`` execution, followed by ``fanout run``'s follower."""
    from fanout_tools import run

    stack, outputs = deployed.stack, deployed.outputs
    batch = stack.client("batch")
    before = submitted_jobs(batch, outputs["job_queue_arn"])
    name = f"{stack_name(deployed.design)}-{count}-{uuid.uuid4().hex[:6]}"
    arn = run.start_execution(stack, outputs, {"count": count}, name=name)
    try:
        result = run.follow(stack, arn, timeout=timeout + POLL_GRACE_SECONDS, poll_seconds=POLL_SECONDS)
        status = result.status
    except run.RunFailedError:  # its TimeoutSeconds did not stop it: stop it, and say so
        stack.client("stepfunctions").stop_execution(executionArn=arn, error="BenchTimeout")
        result = run.follow(stack, arn, timeout=POLL_GRACE_SECONDS, poll_seconds=POLL_SECONDS)
        status = "TIMED_OUT"
    if status == "SUCCEEDED":
        # The emulator ignores ToleratedFailurePercentage and lets a Map Run with failed children
        # succeed; AWS (with the 0% default) fails it. Report what AWS would.
        failed = sum(counts.get("failed", 0) for counts in result.map_runs.values())
        if failed:
            status = f"FAILED ({failed} batch(es) failed)"
    # The sandbox finishes a job's bookkeeping just after the execution sees it; let it settle.
    time.sleep(0.5)
    return report.Execution(
        status=status,
        seconds=result.seconds,
        history_events=result.history_events,
        states_entered=result.states_entered,
        submit_jobs=submitted_jobs(batch, outputs["job_queue_arn"]) - before,
        output_bytes=result.output_bytes,
    )


def measure_generator(deployed: Deployed, count: int, code_dir: Path) -> report.GeneratorRun:
    """The deployed function's handler, with its environment, in a fresh process: seconds and peak RSS."""
    from fanout_tools.sandbox.layout import clean_env

    stack, outputs = deployed.stack, deployed.outputs
    config = stack.client("lambda").get_function_configuration(
        FunctionName=outputs["generator_function_name"]
    )
    env = dict((config.get("Environment") or {}).get("Variables") or {})
    env.update({key: value for key, value in stack.target.aws_env().items() if value is not None})
    event = {"input": {"count": count}, "execution_name": f"bench-gen-{deployed.design}-{count}"}
    # The attributes of the Lambda context the handler reads:
    # https://docs.aws.amazon.com/lambda/latest/dg/python-context.html
    context = {
        "function_name": config["FunctionName"],
        "memory_limit_in_mb": config.get("MemorySize", 512),
        "invoked_function_arn": config["FunctionArn"],
        "aws_request_id": str(uuid.uuid4()),
    }
    code = (
        "import json, resource, sys, time, types\n"
        f"sys.path.insert(0, {str(code_dir)!r})\n"
        "import handler\n"
        f"context = types.SimpleNamespace(**{context!r}, get_remaining_time_in_millis=lambda: 900000)\n"
        "t = time.perf_counter()\n"
        f"out = handler.handler({event!r}, context)\n"
        "seconds = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        # ru_maxrss keeps the parent's peak across fork and exec (here: the bench's own, ~100+ MiB);
        # VmHWM is this process's own peak: https://man7.org/linux/man-pages/man5/proc_pid_status.5.html
        "try:\n"
        "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "    peak = int(hwm[0].split()[1]) / 1024 if hwm else peak\n"
        "except OSError:\n"
        "    pass\n"
        "print(json.dumps({'seconds': seconds, 'peak_mib': peak, 'count': out['count']}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise FanoutError(
            f"generator benchmark ({deployed.design}, {count:,} items) failed:\n"
            + proc.stderr.strip()[-2000:],
            "run the generator's tests (tests/lambda) and check the deployed function's environment",
        )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["count"] != count:
        raise FanoutError(f"generator returned {result['count']} items for {count}")
    return report.GeneratorRun(seconds=result["seconds"], peak_mib=result["peak_mib"])


READER_RUNS = 5
"""Fresh processes timed for the reader's start-up; the best is reported (the others show the machine)."""


def reader_start_up(command: list[str], env: dict[str, str], runs: int = READER_RUNS) -> float:
    """Best wall seconds of ``runs`` fresh processes of ``command``: a child's whole life (interpreter
    start, its item read, the exec of the job's command) as Batch would start it. The interpreter is
    run by its own path (:func:`real_interpreter`)."""
    from fanout_tools.sandbox.layout import clean_env

    command = [real_interpreter(command[0]), *command[1:]]
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(command, env=clean_env(env), capture_output=True, timeout=60, check=False)
        best = min(best, time.perf_counter() - started)
        if proc.returncode != 0:
            raise FanoutError(
                f"the array reader exited {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}",
                "run the reader's tests (tests/lambda/test_inline_reader.py)",
            )
    return best


def measure_reader(deployed: Deployed, scratch: Path) -> report.ReaderRun:
    """The deployed job definition's command as a child runs it, in fresh processes with no
    site-packages: once with its batch on local disk (the reader's start-up, its read and the exec of
    the job's command) and once reading its item from the sandbox's S3 (two ranged GETs, SigV4)."""
    from fanout_tools import generator
    from fanout_tools.sandbox.batch_runner import substitute

    batches = generator.load("batches")
    stack, outputs = deployed.stack, deployed.outputs
    definition = stack.client("batch").describe_job_definitions(
        jobDefinitions=[outputs["job_definition_arn"]]
    )
    command = definition["jobDefinitions"][0]["containerProperties"]["command"]
    items = [b'{"index":0}', b'{"index":1}']
    local_uri = local_batch(scratch, items)
    body, index = batches.encode(items)
    key = f"bench-reader/{uuid.uuid4().hex[:8]}/batch-000000.jsonl"
    s3 = stack.client("s3")
    s3.put_object(Bucket=outputs["bucket_name"], Key=key, Body=body)
    s3.put_object(Bucket=outputs["bucket_name"], Key=batches.index_key(key), Body=index)
    env = {k: v for k, v in stack.target.aws_env().items() if v is not None}
    env["AWS_BATCH_JOB_ARRAY_INDEX"] = "1"

    def timed(uri: str) -> float:
        return reader_start_up(substitute(command, {"items_uri": uri}), env)

    return report.ReaderRun(
        local_disk=timed(local_uri), sandbox_s3=timed(f"s3://{outputs['bucket_name']}/{key}")
    )


def local_batch(folder: Path, items: list[bytes]) -> str:
    """A batch of ``items`` with its offset index in ``folder``, as the reader reads it: its file URI."""
    from fanout_tools import generator

    batches = generator.load("batches")
    body, index = batches.encode(items)
    path = folder / "batch-000000.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    Path(batches.index_key(str(path))).write_bytes(index)
    return path.as_uri()


def real_interpreter(name: str) -> str:
    """The interpreter ``name`` runs, by absolute path. On a developer's machine ``python3`` on PATH is
    often a version manager's shim (pyenv's is a shell script that forks a dozen times: ~130 ms here),
    which an image's ``python3`` is not; timing through it would measure the shim."""
    hint = f"install {name} or put it on PATH: array children run it"
    try:
        found = subprocess.run(
            [name, "-I", "-S", "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError as err:
        raise FanoutError(f"{name} did not start: {err.strerror}", hint) from None
    if found.returncode != 0 or not found.stdout.strip():
        raise FanoutError(f"{name} did not start: {found.stderr.strip()}", hint)
    return found.stdout.strip()


def extract(zip_path: Path, dest: Path) -> Path:
    import shutil
    import zipfile

    if dest.exists():
        shutil.rmtree(dest)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)
    return dest


def bench(
    sizes: list[int],
    designs: list[str],
    out: Path,
    run_executions: bool = True,
    run_ceiling: int | None = None,
    execution_timeout: float = EXECUTION_TIMEOUT_SECONDS,
) -> report.Measured:
    """Measure, model and write the table; the sandbox is left as it was found (see :func:`_measure`)."""
    from fanout_tools import generator
    from fanout_tools.limits import aws_limits

    cap = generator.load("capacity")
    limits = asdict(aws_limits())
    max_items = {d: report.capacity_of(cap, d, limits).max_items for d in designs if d != SAMPLE}
    todo = tasks(designs, sizes, max_items, run_executions, run_ceiling)
    generators: dict[tuple[str, int], report.GeneratorRun] = {}
    executions: dict[tuple[str, int], report.Execution] = {}
    readers: dict[str, report.ReaderRun] = {}
    if stacks_needed(todo):
        _measure(todo, execution_timeout, generators, executions, readers)
    found, capacities = report.rows(cap, limits, MODES, designs, sizes, generators, executions)
    measured = report.Measured(found, readers)
    report.write_report(measured, capacities, out)
    return measured


def _measure(
    todo: list[Any],
    execution_timeout: float,
    generators: dict[tuple[str, int], report.GeneratorRun],
    executions: dict[tuple[str, int], report.Execution],
    readers: dict[str, report.ReaderRun],
) -> None:
    """Deploy, measure one design at a time, then clean up: a sandbox the bench started is stopped (its
    state lives inside it); in one that was already running, the bench's stacks are destroyed."""
    from fanout_tools.sandbox import control

    already_running = control.current() is not None
    opened: list[Any] = []
    try:
        deployed = deploy(stacks_needed(todo), execution_timeout, opened)
        code_dir = extract(build_dir() / "generator.zip", build_dir() / "bench-generator-src")
        for design, target in deployed.items():
            if contract().is_array(mode_of(design)):
                readers[design] = measure_reader(target, build_dir() / "bench-reader" / design)
        for task in todo:
            target = deployed[task.design]
            if task.generator:
                generators[task.design, task.count] = measure_generator(target, task.count, code_dir)
            if task.execution:
                executions[task.design, task.count] = execute(target, task.count, execution_timeout)
            log.info("bench %s %s: done", task.design, task.count)
            print(f"bench: {task.design} {task.count:,} items measured", flush=True)
    finally:
        if already_running:
            destroy(opened)
        else:
            control.down()
