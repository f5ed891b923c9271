"""The report's pictures, drawn with matplotlib (``matplotlib.figure.Figure``: no pyplot, no display).

Also the timeline's rows (:func:`timeline_rows`): the same rows are drawn and embedded as data in
the HTML. A run with at most :data:`MAX_ROWS` jobs gets one row per job; array jobs get one row per
batch (the parent, its children aggregated); past :data:`MAX_ROWS` rows, consecutive rows are merged
into groups, so a million items draw as about a thousand rows.
"""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from fanout_tools.report.collect import RunData

MAX_ROWS = 1000
COLORS = {
    "SUCCEEDED": "#2e7d32",
    "FAILED": "#c62828",
    "PARTIAL": "#ef6c00",  # a batch or group with some failed items
    "RUNNING": "#1565c0",
    "OTHER": "#757575",
}
WAIT_COLOR = "#b0bec5"
PHASE_COLOR = "#5c6bc0"


def _status(counts: Counter[str]) -> str:
    failed, total = counts.get("FAILED", 0), sum(counts.values())
    if failed and failed == total:
        return "FAILED"
    if failed:
        return "PARTIAL"
    if total and counts.get("SUCCEEDED", 0) == total:
        return "SUCCEEDED"
    return "RUNNING" if counts.get("RUNNING", 0) else "OTHER"


def _rel(value: float | None, origin: float) -> float | None:
    return None if value is None else round(value - origin, 3)


def timeline_rows(data: RunData, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """Rows for the timeline: ``{"kind", "rows": [...], "items", "note"}`` (times: seconds from the start)."""
    origin = data.start
    rows: list[dict[str, Any]] = []
    for job in data.jobs:
        counts = job.counts()
        row: dict[str, Any] = {
            "kind": "batch" if job.array_size else "job",
            "id": job.job_id,
            "name": job.name,
            "status": _status(counts) if job.array_size else job.status,
            "submitted": _rel(job.created, origin),
            "started": _rel(job.started, origin),
            "stopped": _rel(job.stopped, origin),
            "items": job.items,
            "counts": dict(counts),
        }
        rows.append(row)
    kind = "batches" if any(j.array_size for j in data.jobs) else "jobs"
    note = f"one row per {'batch (array job; its children aggregated)' if kind == 'batches' else 'job'}"
    if len(rows) > max_rows:
        size = -(-len(rows) // max_rows)
        rows = [_merge(rows[i : i + size]) for i in range(0, len(rows), size)]
        note = f"one row per group of {size:,} consecutive {kind} (aggregated: earliest submit, last stop)"
        kind = "groups"
    return {"kind": kind, "rows": rows, "items": data.items, "note": note}


def _merge(rows: list[dict[str, Any]]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    for row in rows:
        counts.update(row["counts"])

    def pick(key: str, fn: Any) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return fn(values) if values else None

    return {
        "kind": "group",
        "id": f"{rows[0]['id']}..{rows[-1]['id']}",
        "name": f"{rows[0]['name']} .. {rows[-1]['name']}",
        "status": _status(counts),
        "submitted": pick("submitted", min),
        "started": pick("started", min),
        "stopped": pick("stopped", max),
        "items": sum(r["items"] for r in rows),
        "counts": dict(counts),
    }


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def timeline_png(data: RunData, timeline: dict[str, Any]) -> bytes:
    """Phases on top; below, one bar per row: submitted -> started (grey), started -> stopped (status)."""
    rows = timeline["rows"]
    height = 2.2 + min(14.0, max(2.0, 0.16 * len(rows)))
    fig = Figure(figsize=(11, height), layout="constrained")
    phases_ax, rows_ax = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [max(1, len(data.phases)) * 0.35 + 0.3, height - 2]}
    )
    for y, phase in enumerate(data.phases):
        phases_ax.barh(
            y,
            max(phase.end - phase.start, 0.001),
            left=phase.start - data.start,
            color=COLORS["FAILED"] if phase.status == "FAILED" else PHASE_COLOR,
        )
    phases_ax.set_yticks(range(len(data.phases)), [p.name for p in data.phases])
    phases_ax.invert_yaxis()
    phases_ax.set_title(f"{data.name}: {data.status}, {data.items:,} items, {timeline['note']}", fontsize=9)

    ys, waits, wait_left, runs, colors = [], [], [], [], []
    for y, row in enumerate(rows):
        submitted, started, stopped = row["submitted"], row["started"], row["stopped"]
        if submitted is not None and started is not None:
            ys.append(y)
            waits.append(max(started - submitted, 0.0))
            wait_left.append(submitted)
        if started is not None and stopped is not None:
            runs.append((y, max(stopped - started, 0.001), started))
            colors.append(COLORS.get(row["status"], COLORS["OTHER"]))
    thin = 0.9 if len(rows) < 200 else 1.0
    if ys:
        rows_ax.barh(ys, waits, left=wait_left, height=thin, color=WAIT_COLOR, linewidth=0)
    if runs:
        rows_ax.barh(
            [r[0] for r in runs],
            [r[1] for r in runs],
            left=[r[2] for r in runs],
            height=thin,
            color=colors,
            linewidth=0,
        )
    rows_ax.set_ylim(len(rows) - 0.5, -0.5)
    label = {"jobs": "job", "batches": "batch", "groups": "group"}[timeline["kind"]]
    rows_ax.set_ylabel(f"{label} (in submission order)")
    if len(rows) <= 40:
        rows_ax.set_yticks(range(len(rows)), [r["name"][-28:] for r in rows], fontsize=7)
    rows_ax.set_xlabel("seconds since the execution started")
    rows_ax.grid(axis="x", alpha=0.3)
    legend = [Patch(color=WAIT_COLOR, label="queued (submitted -> started)")]
    seen = {r["status"] for r in rows}
    legend += [Patch(color=c, label=s.lower()) for s, c in COLORS.items() if s in seen]
    rows_ax.set_xlim(0, max(data.stop - data.start, 0.001) * 1.01)
    fig.legend(handles=legend, loc="outside lower center", ncols=len(legend), fontsize=8, frameon=False)
    return _png(fig)


def distributions_png(data: RunData) -> bytes:
    """Throughput over time, queue-wait and run-time distributions of the rows that have timestamps."""
    rows = data.item_rows()
    weight = data.items / len(rows) if rows and len(rows) < data.items else 1.0
    finished = [r.stopped - data.start for r in rows if r.stopped is not None]
    waits = [r.started - r.created for r in rows if r.started is not None and r.created is not None]
    runs = [r.stopped - r.started for r in rows if r.stopped is not None and r.started is not None]
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    through, wait_ax, run_ax = fig.subplots(1, 3)
    span = max(data.stop - data.start, 1.0)
    bins = min(60, max(5, int(span)))
    if finished:
        through.hist(
            finished, bins=bins, range=(0, span), weights=[weight] * len(finished), color=COLORS["SUCCEEDED"]
        )
    through.set_title(f"items finished per {span / bins:.3g} s", fontsize=9)
    through.set_xlabel("seconds since the execution started")
    for ax, values, title in ((wait_ax, waits, "queue wait (s)"), (run_ax, runs, "run time (s)")):
        if values:
            ax.hist(values, bins=40, color=PHASE_COLOR)
        ax.set_title(title + (f": {len(values):,} items" if values else ": no data"), fontsize=9)
        ax.set_ylabel("items")
    return _png(fig)
