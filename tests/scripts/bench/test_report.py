"""The bench's table from measurements and the capacity models (fanout_tools.bench.report, capacity.py)."""

from __future__ import annotations

from dataclasses import asdict
from types import ModuleType

import pytest
from fanout_tools import generator
from fanout_tools.bench import report
from fanout_tools.contract import contract
from fanout_tools.limits import aws_limits

HEADER = (
    "| design | items | status | history events/item | billed transitions/item | SubmitJob calls/item "
    "| generator s | generator peak MiB | local wall s | note |"
)


@pytest.fixture(scope="module")
def cap() -> ModuleType:
    return generator.load("capacity")


@pytest.fixture(scope="module")
def limits() -> dict[str, object]:
    return asdict(aws_limits())


def _rows(cap, limits, designs, sizes, generators=None, executions=None):  # type: ignore[no-untyped-def]
    return report.rows(cap, limits, contract().mode_names, designs, sizes, generators or {}, executions or {})


def test_table_has_every_column_and_formats_counts() -> None:
    text = report.table_text([report.Row("array", 1_000_000, status="projected", note="n")])
    lines = text.splitlines()
    assert lines[0] == HEADER
    assert lines[1] == "|---|---|---|---|---|---|---|---|---|---|"
    assert lines[2] == "| array | 1,000,000 | projected |  |  |  |  |  |  | n |"


def test_fmt_keeps_small_figures_readable_and_marks_projections() -> None:
    assert report.fmt(8.114) == "8.11"
    assert report.fmt(0.00021) == "0.0002"
    assert report.fmt(1.0, projected=True) == "~1.00"


def test_transitions_and_submits_per_mode(cap: ModuleType) -> None:
    assert cap.transitions("inline", 100) == {"parent": 102, "children": 0}
    assert cap.transitions("array", 11, 5) == {"parent": 2 + 2 * 3, "children": 0}
    assert cap.transitions("distributed", 11, 5) == {"parent": 2, "children": 3 + 11}
    assert cap.transitions("distributed_array", 11, 5) == {"parent": 2, "children": 6}
    assert [cap.submit_job_calls(m, 11, 5) for m in contract().mode_names] == [11, 3, 11, 3]
    with pytest.raises(ValueError):
        cap.transitions("sample", 1)


def test_sample_capacity_is_bound_by_history_until_a_result_size_is_measured(cap, limits) -> None:  # type: ignore[no-untyped-def]
    history = cap.sample_capacity(limits)
    assert history.binding_limit == "sfn_history_events"
    assert history.max_items == (25_000 - cap.PARENT_FIXED_EVENTS) // cap.ITEM_TASK_EVENTS
    measured = cap.sample_capacity(limits, 1_198)
    assert (measured.max_items, measured.binding_limit) == (262_144 // 1_198, "sfn_payload_bytes")
    assert "1,198 bytes per item" in measured.detail


def test_refused_sizes_name_the_limit_and_the_modes_that_fit(cap, limits) -> None:  # type: ignore[no-untyped-def]
    rows, capacities = _rows(cap, limits, ["inline"], [10_000])
    (row,) = rows
    assert row.status == "refused"
    assert row.note.startswith(f"over sfn_payload_bytes (max {capacities['inline'].max_items:,}); fits: ")
    assert "distributed_array" in row.note and "inline" not in row.note.split("fits: ")[1]


def test_measured_rows_add_the_modelled_children_of_distributed_runs(cap, limits) -> None:  # type: ignore[no-untyped-def]
    run = report.Execution(
        "SUCCEEDED", 4.14, history_events=13, states_entered=2, submit_jobs=100, output_bytes=10
    )
    gen = report.GeneratorRun(seconds=0.19, peak_mib=101.4)
    rows, _ = _rows(
        cap, limits, ["distributed"], [100], {("distributed", 100): gen}, {("distributed", 100): run}
    )
    (row,) = rows
    children = cap.history_events("distributed", 100, 1_000)["children"]
    assert row.events_per_item == report.fmt((13 + children) / 100, True)
    assert row.transitions_per_item == report.fmt((2 + 1 + 100) / 100, True)
    assert row.submit_jobs_per_item == "1.00"
    assert (row.status, row.wall_seconds, row.generator_seconds, row.generator_peak_mib) == (
        "SUCCEEDED",
        "4.14",
        "0.19",
        "101",
    )


def test_a_measured_sample_run_bounds_the_larger_sizes_by_its_untrimmed_results(cap, limits) -> None:  # type: ignore[no-untyped-def]
    run = report.Execution(
        "SUCCEEDED", 3.15, history_events=811, states_entered=102, submit_jobs=100, output_bytes=119_800
    )
    rows, capacities = _rows(cap, limits, ["sample"], [1_000, 100], executions={("sample", 100): run})
    small, large = rows
    assert (small.items, small.events_per_item, small.transitions_per_item, small.note) == (
        100,
        "8.11",
        "1.02",
        "",
    )
    assert capacities["sample"].max_items == 262_144 // 1_198
    assert large.status == "fails in AWS"
    assert large.events_per_item.startswith("~") and large.submit_jobs_per_item == "~1.00"
    assert large.note == "sfn_payload_bytes: untrimmed .sync results, 1,198 bytes per item (measured here)"


def test_sizes_not_run_are_projected_from_the_models(cap, limits) -> None:  # type: ignore[no-untyped-def]
    rows, _ = _rows(cap, limits, ["distributed_array"], [1_000_000])
    (row,) = rows
    assert row.status == "projected"
    assert (row.events_per_item, row.transitions_per_item, row.submit_jobs_per_item) == (
        "~0.0010",
        "~0.0002",
        "~0.0001",
    )


def test_report_file_holds_the_table_and_the_capacities(tmp_path, cap, limits) -> None:  # type: ignore[no-untyped-def]
    rows, capacities = _rows(cap, limits, ["array"], [1_000_000])
    out = tmp_path / "reports" / "bench.md"
    report.write_report(report.Measured(rows, {"array": report.ReaderRun(0.0274, 0.0461)}), capacities, out)
    text = out.read_text()
    assert HEADER in text and "## Capacity per design" in text
    assert "| array | 18,510,000 | sfn_payload_bytes |" in text
    assert "27 ms with its batch on local disk, 46 ms reading its item from the sandbox's S3" in text
    report.write_report(report.Measured(rows, {}), capacities, out)  # no array design measured
    assert "array reader" not in out.read_text()
