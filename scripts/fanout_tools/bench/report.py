"""The bench's table: measurements and the capacity models (``lambda/generator/capacity.py``) -> rows."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from fanout_tools.bench.designs import LARGEST_GENERATED_ITEM, SAMPLE, items_per_batch, mode_of


@dataclass(frozen=True)
class Execution:
    """What one execution measured (read by ``fanout run``'s follower, plus the queue's SubmitJob count)."""

    status: str
    seconds: float
    history_events: int
    states_entered: int
    submit_jobs: int
    output_bytes: int


@dataclass(frozen=True)
class GeneratorRun:
    seconds: float
    peak_mib: float


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


def fmt(value: float, projected: bool = False) -> str:
    text = f"{value:.4f}" if value < 0.1 else f"{value:.2f}"
    return f"~{text}" if projected else text


def capacity_of(
    cap: ModuleType, design: str, limits: dict[str, Any], result_bytes_per_item: int | None = None
) -> Any:
    """The design's capacity under AWS limits (the sample's: bound by a measured result size when known)."""
    if design == SAMPLE:
        return cap.sample_capacity(limits, result_bytes_per_item)
    return cap.capacity(
        design, limits, items_per_batch=items_per_batch(design), item_bytes=len(LARGEST_GENERATED_ITEM)
    )


def rows(
    cap: ModuleType,
    limits: dict[str, Any],
    modes: tuple[str, ...],
    designs: list[str],
    sizes: list[int],
    generators: dict[tuple[str, int], GeneratorRun],
    executions: dict[tuple[str, int], Execution],
) -> tuple[list[Row], dict[str, Any]]:
    """One row per design and size, and each design's capacity.

    A size beyond a mode's capacity is refused (naming the modes that fit); one with a measured
    execution shows it (Distributed Map children's share modelled, ``~``); any other is projected
    from the models (``~``), or marked "fails in AWS" beyond the sample's capacity.
    """
    table: list[Row] = []
    capacities: dict[str, Any] = {}
    for design in designs:
        mode = mode_of(design)
        per_batch = items_per_batch(design)
        distributed = mode in ("distributed", "distributed_array")
        capacity = capacity_of(cap, design, limits)
        capacities[design] = capacity
        for count in sorted(sizes):
            row = Row(design, count)
            table.append(row)
            if design != SAMPLE and count > capacity.max_items:
                row.status = "refused"
                row.note = f"over {capacity.binding_limit} (max {capacity.max_items:,}); fits: " + ", ".join(
                    cap.modes_that_fit(count, limits, modes, items_per_batch=per_batch)
                )
                continue
            gen = generators.get((design, count))
            if gen is not None:
                row.generator_seconds = fmt(gen.seconds)
                row.generator_peak_mib = f"{gen.peak_mib:.0f}"
            run = executions.get((design, count))
            if run is not None:
                row.status = run.status
                row.wall_seconds = fmt(run.seconds)
                child_events = cap.history_events(mode, count, per_batch)["children"] if distributed else 0
                child_moves = cap.transitions(mode, count, per_batch)["children"] if distributed else 0
                row.events_per_item = fmt((run.history_events + child_events) / count, distributed)
                row.transitions_per_item = fmt((run.states_entered + child_moves) / count, distributed)
                row.submit_jobs_per_item = fmt(run.submit_jobs / count)
                if design == SAMPLE and run.status == "SUCCEEDED":
                    # No ResultSelector: the Map output keeps every job's full description.
                    capacity = capacity_of(cap, design, limits, max(1, run.output_bytes // count))
                    capacities[design] = capacity
                if design == SAMPLE and count > capacity.max_items:
                    row.note = f"fails in AWS: {capacity.detail}"
                continue
            events = cap.history_events(mode, count, per_batch)
            moves = cap.transitions(mode, count, per_batch)
            row.status = "projected" if count <= capacity.max_items else "fails in AWS"
            row.events_per_item = fmt((events["parent"] + events["children"]) / count, True)
            row.transitions_per_item = fmt((moves["parent"] + moves["children"]) / count, True)
            row.submit_jobs_per_item = fmt(cap.submit_job_calls(mode, count, per_batch) / count, True)
            if design == SAMPLE and count > capacity.max_items:
                row.note = f"{capacity.binding_limit}: {capacity.detail}"
    return table, capacities


@dataclass
class ReaderRun:
    """Best wall seconds of the array job command in fresh ``python3 -I -S`` processes."""

    local_disk: float  # start-up, the read of a batch on local disk, the exec of the job's command
    sandbox_s3: float  # the same, the item read from the sandbox's S3 (two ranged GETs, SigV4)


@dataclass
class Measured:
    rows: list[Row]
    readers: dict[str, ReaderRun]  # array design -> its reader's figures


def reader_text(readers: dict[str, ReaderRun]) -> str:
    """One line per array design (the reader's start-up target: 50 ms)."""
    return "\n".join(
        f"array reader ({design}), best of a few fresh python3 -I -S processes running the job"
        f" definition's command: {run.local_disk * 1000:.0f} ms with its batch on local disk,"
        f" {run.sandbox_s3 * 1000:.0f} ms reading its item from the sandbox's S3"
        for design, run in readers.items()
    )


def table_text(found: list[Row]) -> str:
    header = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    lines = [header, rule]
    for row in found:
        cells = [f"{getattr(row, key):,}" if key == "items" else str(getattr(row, key)) for key, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def capacity_text(capacities: dict[str, Any]) -> str:
    lines = ["| design | largest execution under AWS limits | binding limit | why |", "|---|---|---|---|"]
    for design, capacity in capacities.items():
        lines.append(f"| {design} | {capacity.max_items:,} | {capacity.binding_limit} | {capacity.detail} |")
    return "\n".join(lines)


def report_text(measured: Measured, capacities: dict[str, Any]) -> str:
    readers = reader_text(measured.readers)
    return (
        "# Fan-out benchmark\n\n"
        f"Measured {time.strftime('%Y-%m-%d %H:%M:%S %Z')} on {os.cpu_count()} cores, sandbox account,\n"
        "one Terraform stack per design (`terraform/`, as `make apply` deploys it).\n"
        "`~` = modelled from the rendered ASL structure or projected from measured per-batch figures;\n"
        "billed transitions = states entered (what AWS bills Standard workflows for).\n\n"
        + table_text(measured.rows)
        + (f"\n\n{readers}" if readers else "")
        + "\n\n## Capacity per design\n\n"
        + capacity_text(capacities)
        + "\n"
    )


def write_report(measured: Measured, capacities: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report_text(measured, capacities))
