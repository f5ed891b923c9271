"""What the bench deploys for each design and what it measures at each size (pure: no AWS, no files)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fanout_tools.contract import contract

SAMPLE = "sample"
MODES = contract().mode_names
DESIGNS = (SAMPLE, *MODES)
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
# The largest item of a {"count": N} input: what the capacity of item-carrying designs is computed for.
LARGEST_GENERATED_ITEM = '{"index":999999}'


def mode_of(design: str) -> str:
    """The fan-out mode of the stack a design runs on (the sample runs on an inline stack)."""
    return "inline" if design == SAMPLE else design


def items_per_batch(design: str) -> int:
    """Array modes batch as much as one array job holds; the others a child's worth."""
    return ARRAY_ITEMS_PER_BATCH if contract().is_array(mode_of(design)) else ITEMS_PER_BATCH


def stack_name(design: str) -> str:
    return f"bench-{design.replace('_', '-')}"


def job_command(design: str) -> list[str]:
    """``true`` ignores its arguments: the figures are the orchestration's, not a workload's. Array
    children run the stack's real default command, the inline reader (their item read with two
    ranged GETs), then ``true``; other jobs get their item as ``Ref::item``."""
    if contract().is_array(mode_of(design)):
        from fanout_tools.sandbox.item_shortcut import reader_command

        return reader_command(["true"])
    return ["true", "Ref::item"]


def stack_variables(design: str, execution_timeout: float = EXECUTION_TIMEOUT_SECONDS) -> dict[str, Any]:
    """The var file of a design's stack: ``terraform/`` with the bench's settings, nothing else."""
    mode = mode_of(design)
    variables: dict[str, Any] = {
        "name": stack_name(design),
        "fanout_mode": mode,
        "items_per_batch": items_per_batch(design),
        # An inline Map runs at most 40 iterations at once; a Distributed Map's children, many more.
        "max_concurrency": 100 if contract().is_distributed(mode) else 40,
        "job_command": job_command(design),
        # The definition's own TimeoutSeconds: a long local run is stopped by it, not by the poller.
        # (The sample keeps its own TimeoutSeconds, 3600.)
        "execution_timeout_seconds": max(60, int(execution_timeout)),
        "generator_timeout_seconds": 900,
        "log_retention_days": 1,
    }
    if design == SAMPLE:
        variables["comparison_design"] = SAMPLE
    return variables


@dataclass(frozen=True)
class Task:
    """What to measure for one design at one size; a size with neither is refused or projected."""

    design: str
    count: int
    generator: bool
    execution: bool


def tasks(
    designs: list[str],
    sizes: list[int],
    max_items: dict[str, int],
    run_executions: bool = True,
    run_ceiling: int | None = None,
) -> list[Task]:
    """Per design (in order) and size (ascending): run the generator unless the mode refuses the size
    (``max_items``: each mode's capacity); run an execution up to the local ceiling. The sample has no
    generator of its own and is never refused: beyond its capacity it "fails in AWS" (projected)."""
    found: list[Task] = []
    for design in designs:
        ceiling = LOCAL_RUN_CEILING[design] if run_ceiling is None else run_ceiling
        for count in sorted(sizes):
            if design != SAMPLE and count > max_items[design]:
                continue
            found.append(
                Task(design, count, generator=design != SAMPLE, execution=run_executions and count <= ceiling)
            )
    return found


def stacks_needed(found: list[Task]) -> list[str]:
    """Designs whose stack must be deployed: any execution, or a generator run (the deployed
    function's environment and bucket)."""
    return list(dict.fromkeys(t.design for t in found if t.generator or t.execution))
