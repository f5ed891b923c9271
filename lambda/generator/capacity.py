"""How many items each fan-out mode can handle under AWS's limits, and which limit binds.

Standard library only: the generator Lambda imports it, and the tooling (``fanout run``, ``fanout bench``)
loads this same file by path, so the formula lives in one place.

The event counts are those of the rendered ASL (templates/asl/): every number below names the history
events of one structure. Event types:
https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html; an inline Map adds
its iterations' events to the parent's history:
https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html
``limits`` is the content of ``terraform/aws_limits.json`` (the Lambda receives it as env FANOUT_LIMITS).
``modes`` is the mode list of ``terraform/contract.json``, cheapest first: this file runs inside the Lambda
zip, which carries neither JSON file, so callers pass it (the Lambda from env FANOUT_MODES, which Terraform
sets from the contract; the tooling from ``fanout_tools.contract``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

# History events, counted from the rendered state machine (no retries):
# ExecutionStarted + generator Task (Entered, Scheduled, Started, Succeeded, Exited) + Map (Entered, Started,
# Succeeded, Exited) + SummarizeItems Task (5) + CheckTolerance Choice (Entered, Exited) + Done Succeed
# (Entered, Exited) + ExecutionSucceeded. A failed item adds its two Pass states (4 events).
PARENT_FIXED_EVENTS = 20
# A Distributed Map adds MapRunStarted + MapRunSucceeded to the parent.
MAP_RUN_EVENTS = 2
# One inline-Map iteration with one submitJob.sync Task: MapIterationStarted, TaskStateEntered,
# TaskScheduled, TaskStarted, TaskSubmitted, TaskSucceeded, TaskStateExited, MapIterationSucceeded.
ITEM_TASK_EVENTS = 8
# One iteration over a batch: the above plus ChoiceStateEntered + ChoiceStateExited.
BATCH_TASK_EVENTS = 10
# A Distributed Map child running an inline Map: ExecutionStarted, Map Entered/Started/Succeeded/Exited,
# ExecutionSucceeded.
CHILD_MAP_FIXED_EVENTS = 6
# A Distributed Map child running one (array) job: ExecutionStarted, Choice Entered/Exited, 5 Task events,
# ExecutionSucceeded (+ TaskStateExited) = 10.
CHILD_BATCH_EVENTS = 10

# Bytes of one trimmed .sync result in a Map's output, e.g.
# {"JobId":"<36-char uuid>","JobName":"<state machine>-item-1234567","Status":"SUCCEEDED"}, + 1 comma.
RESULT_FIXED_BYTES = len('{"JobId":"","JobName":"","Status":"SUCCEEDED"},') + 36
# A batch row in the array-mode generator output: {"batch":123456,"items_uri":"s3://<bucket>/<key>","size":10000},
BATCH_ROW_FIXED_BYTES = len(
    '{"batch":123456,"items_uri":"s3:///runs//items/batch-000000.jsonl","size":10000},'
)
# Room kept for the envelope around a payload ({"mode":..., "count":..., "items": [...]}, the Lambda
# Payload wrapper) so an estimate never lands exactly on the limit.
PAYLOAD_MARGIN_BYTES = 1024
# Per-item overhead of a SubmitJob request besides the item itself (job name, queue ARN, definition, index).
SUBMIT_JOB_OVERHEAD_BYTES = 2048


@dataclass(frozen=True)
class Capacity:
    mode: str
    max_items: int
    binding_limit: str  # a short name of the AWS limit that stops the mode
    detail: str  # one sentence a user can read

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def result_bytes(name_length: int = 6) -> int:
    """Bytes one trimmed job result adds to a Map output, for a state machine name of this length."""
    return RESULT_FIXED_BYTES + name_length + len("-item-") + 7


def max_item_bytes(limits: dict[str, Any]) -> int:
    """Largest serialized item a single-job mode can pass to Batch (SubmitJob payload limit)."""
    return int(limits["batch_submit_job_payload_bytes"]) - SUBMIT_JOB_OVERHEAD_BYTES


def distributed_batch_bounds(
    limits: dict[str, Any], items_per_batch: int, name_length: int = 6
) -> tuple[int, int]:
    """(max items, max bytes) of one batch a Distributed child runs as an inline Map (distributed mode).

    A child has its own 25,000-event history and 256 KiB input/output: its input is the batch object, its
    output the list of trimmed results.
    """
    history = (int(limits["sfn_history_events"]) - CHILD_MAP_FIXED_EVENTS) // ITEM_TASK_EVENTS
    output = (int(limits["sfn_payload_bytes"]) - PAYLOAD_MARGIN_BYTES) // result_bytes(name_length)
    items = max(1, min(int(items_per_batch), history, output))
    return items, int(limits["sfn_payload_bytes"]) - PAYLOAD_MARGIN_BYTES


def capacity(
    mode: str,
    limits: dict[str, Any],
    *,
    items_per_batch: int = 1000,
    item_bytes: int = 32,
    name_length: int = 6,
    bucket_and_exec_length: int = 60,
) -> Capacity:
    """Largest item count ``mode`` handles in one execution, and the limit that binds.

    ``item_bytes``: serialized size of one item (for inline mode, whose items travel in the payload);
    ``name_length``: the state machine name's length (job names appear in results);
    ``bucket_and_exec_length``: bucket name + execution name (in array mode's batch URIs).
    """
    payload = int(limits["sfn_payload_bytes"]) - PAYLOAD_MARGIN_BYTES
    history = int(limits["sfn_history_events"])
    array_max = int(limits["batch_array_size_max"])
    per_batch = max(1, min(int(items_per_batch), array_max))
    candidates: list[tuple[int, str, str]]
    if mode == "inline":
        candidates = [
            (
                (history - PARENT_FIXED_EVENTS) // ITEM_TASK_EVENTS,
                "sfn_history_events",
                f"{ITEM_TASK_EVENTS} history events per item against {history:,} per execution",
            ),
            (
                payload // result_bytes(name_length),
                "sfn_payload_bytes",
                f"the Map output holds {result_bytes(name_length)} bytes per item "
                f"against {payload + PAYLOAD_MARGIN_BYTES:,}",
            ),
            (
                payload // (item_bytes + 1),
                "sfn_payload_bytes",
                f"the generator returns every item inline ({item_bytes} bytes each) within 256 KiB",
            ),
        ]
    elif mode == "array":
        row = BATCH_ROW_FIXED_BYTES + bucket_and_exec_length
        batches = [
            (
                (history - PARENT_FIXED_EVENTS) // BATCH_TASK_EVENTS,
                "sfn_history_events",
                "history events per batch",
            ),
            (payload // row, "sfn_payload_bytes", f"the generator returns one {row}-byte row per batch"),
            (
                payload // result_bytes(name_length),
                "sfn_payload_bytes",
                "the Map output holds one result per batch",
            ),
        ]
        candidates = [
            (n * per_batch, lim, f"{n:,} batches of {per_batch:,} items: {why}") for n, lim, why in batches
        ]
    elif mode == "distributed":
        items, _ = distributed_batch_bounds(limits, per_batch, name_length)
        reader_items = int(limits["item_reader_max_items"])
        reader_bytes = int(limits["item_reader_max_file_bytes"])
        candidates = [
            (
                reader_items * items,
                "item_reader_max_items",
                f"{reader_items:,} manifest rows of up to {items:,} items (a child's history and "
                "output bound the batch)",
            ),
            (
                reader_bytes // (item_bytes + 1),
                "item_reader_max_file_bytes",
                f"the manifest holds every item ({item_bytes} bytes each) in one file of at most 10 GB",
            ),
        ]
    elif mode == "distributed_array":
        reader_items = int(limits["item_reader_max_items"])
        candidates = [
            (
                reader_items * per_batch,
                "item_reader_max_items",
                f"{reader_items:,} manifest rows of one array job of up to {per_batch:,} items",
            )
        ]
    else:
        raise ValueError(f"unknown mode {mode!r}: no capacity formula for it")
    max_items, limit, why = min(candidates, key=lambda c: c[0])
    return Capacity(mode, max(0, max_items), limit, why)


def modes_that_fit(count: int, limits: dict[str, Any], modes: Sequence[str], **kwargs: Any) -> list[str]:
    """The ``modes`` (in their order, cheapest first in the contract) whose capacity is at least ``count``."""
    return [m for m in modes if capacity(m, limits, **kwargs).max_items >= count]


def history_events(mode: str, count: int, items_per_batch: int = 1000) -> dict[str, int]:
    """Estimated history events of one successful execution: {"parent": n, "children": n}."""
    batches = -(-count // max(1, items_per_batch)) if count else 0
    if mode == "inline":
        return {"parent": PARENT_FIXED_EVENTS + ITEM_TASK_EVENTS * count, "children": 0}
    if mode == "array":
        return {"parent": PARENT_FIXED_EVENTS + BATCH_TASK_EVENTS * batches, "children": 0}
    if mode == "distributed":
        return {
            "parent": PARENT_FIXED_EVENTS + MAP_RUN_EVENTS,
            "children": CHILD_MAP_FIXED_EVENTS * batches + ITEM_TASK_EVENTS * count,
        }
    if mode == "distributed_array":
        return {"parent": PARENT_FIXED_EVENTS + MAP_RUN_EVENTS, "children": CHILD_BATCH_EVENTS * batches}
    raise ValueError(f"unknown mode {mode!r}")


def transitions(mode: str, count: int, items_per_batch: int = 1000) -> dict[str, int]:
    """Billed state transitions of one successful execution: {"parent": n, "children": n}.

    Standard workflows are billed per state transition, one per state entered
    (https://aws.amazon.com/step-functions/pricing/); counted from the rendered structure like
    :func:`history_events`.
    """
    batches = -(-count // max(1, items_per_batch)) if count else 0
    parent_fixed = 2  # the generator Task + the Map state
    if mode == "inline":
        return {"parent": parent_fixed + count, "children": 0}  # one Task per item
    if mode == "array":
        return {"parent": parent_fixed + 2 * batches, "children": 0}  # Choice + Task per batch
    if mode == "distributed":
        return {"parent": parent_fixed, "children": batches + count}  # child Map + Task per item
    if mode == "distributed_array":
        return {"parent": parent_fixed, "children": 2 * batches}  # Choice + Task per child
    raise ValueError(f"unknown mode {mode!r}")


def submit_job_calls(mode: str, count: int, items_per_batch: int = 1000) -> int:
    """Batch SubmitJob calls of one successful execution: one per item, or one per batch in array modes
    (a batch of one is a plain job, still one call; array children are not submissions)."""
    if mode in ("inline", "distributed"):
        return count
    if mode in ("array", "distributed_array"):
        return -(-count // max(1, items_per_batch)) if count else 0
    raise ValueError(f"unknown mode {mode!r}")


def sample_capacity(limits: dict[str, Any], result_bytes_per_item: int | None = None) -> Capacity:
    """The AWS sample's design (templates/asl/sample.asl.json.j2): an inline Map of one job per item.

    Bound by its history (:data:`ITEM_TASK_EVENTS` per item) and, with no ResultSelector, by its Map
    output, which keeps every job's untrimmed .sync result: pass ``result_bytes_per_item`` (measured
    from a run's output) to apply that bound too.
    """
    history = int(limits["sfn_history_events"])
    found = Capacity(
        "sample",
        (history - PARENT_FIXED_EVENTS) // ITEM_TASK_EVENTS,
        "sfn_history_events",
        f"{ITEM_TASK_EVENTS} events per item",
    )
    if result_bytes_per_item:
        per_item = max(1, int(result_bytes_per_item))
        payload = int(limits["sfn_payload_bytes"]) // per_item
        if payload < found.max_items:
            found = Capacity(
                "sample",
                payload,
                "sfn_payload_bytes",
                f"untrimmed .sync results, {per_item:,} bytes per item (measured here)",
            )
    return found


if __name__ == "__main__":  # pragma: no cover - manual inspection
    import sys

    # python capacity.py terraform/aws_limits.json MODE...
    with open(sys.argv[1]) as handle:
        loaded = json.load(handle)
    for m in sys.argv[2:]:
        print(json.dumps(capacity(m, loaded).as_dict()))
