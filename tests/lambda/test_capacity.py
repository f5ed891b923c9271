"""Per-mode capacity under AWS limits: the numbers `fanout run`/`bench` and the generator rely on."""

from __future__ import annotations

import capacity
import pytest
from fanout_tools.contract import contract


def test_inline_is_bound_by_the_payload_of_its_map_output(limits):
    cap = capacity.capacity("inline", limits)
    assert cap.binding_limit == "sfn_payload_bytes"
    # trimmed results of about 102 bytes against 256 KiB; history alone would allow (25,000 - 11) / 8 = 3,123
    assert 2_400 <= cap.max_items <= 2_700
    assert cap.max_items < (limits["sfn_history_events"] - capacity.PARENT_FIXED_EVENTS) // 8


def test_inline_with_large_items_is_bound_by_the_generator_output(limits):
    cap = capacity.capacity("inline", limits, item_bytes=1000)
    assert cap.binding_limit == "sfn_payload_bytes"
    assert cap.max_items == (limits["sfn_payload_bytes"] - capacity.PAYLOAD_MARGIN_BYTES) // 1001
    assert "generator returns every item inline" in cap.detail


def test_array_mode_reaches_a_million_items_with_full_batches(limits):
    cap = capacity.capacity("array", limits, items_per_batch=10_000)
    assert cap.max_items >= 1_000_000
    assert "batches of 10,000 items" in cap.detail


def test_array_batch_size_is_capped_by_the_batch_array_limit(limits):
    assert capacity.capacity("array", limits, items_per_batch=50_000) == capacity.capacity(
        "array", limits, items_per_batch=limits["batch_array_size_max"]
    )


@pytest.mark.parametrize("mode", ["distributed", "distributed_array"])
def test_distributed_modes_exceed_a_million(limits, mode):
    assert capacity.capacity(mode, limits, items_per_batch=1000).max_items >= 1_000_000


def test_distributed_child_batch_is_bounded_by_history_and_output(limits):
    items, max_bytes = capacity.distributed_batch_bounds(limits, items_per_batch=10_000)
    assert items * capacity.ITEM_TASK_EVENTS + capacity.CHILD_MAP_FIXED_EVENTS <= limits["sfn_history_events"]
    assert items * capacity.result_bytes() <= limits["sfn_payload_bytes"]
    assert max_bytes < limits["sfn_payload_bytes"]
    assert capacity.distributed_batch_bounds(limits, items_per_batch=100) == (100, max_bytes)


def test_modes_that_fit_fifty_thousand_excludes_inline(limits):
    modes = contract().mode_names
    assert capacity.modes_that_fit(50_000, limits, modes) == ["array", "distributed", "distributed_array"]
    assert capacity.modes_that_fit(100, limits, modes) == list(modes)


def test_history_events_match_the_measured_seed_rate_for_inline():
    # Measured in the sandbox: 100 items -> 820 events (8 per item + 20 fixed: the generator, the Map,
    # SummarizeItems, CheckTolerance and Done); the AWS sample's design, without the summary, had 811.
    assert capacity.history_events("inline", 100) == {"parent": 820, "children": 0}
    assert capacity.history_events("array", 25_000, items_per_batch=10_000)["parent"] == 20 + 3 * 10
    assert capacity.history_events("distributed_array", 1_000_000, items_per_batch=10_000) == {
        "parent": 22,
        "children": 1_000,
    }


def test_unknown_mode_is_rejected(limits):
    with pytest.raises(ValueError, match="unknown mode"):
        capacity.capacity("turbo", limits)


def test_every_mode_of_the_contract_has_a_capacity_and_an_event_formula(limits):
    for mode in contract().mode_names:
        assert capacity.capacity(mode, limits).max_items > 0
        assert capacity.history_events(mode, 10)["parent"] > 0
