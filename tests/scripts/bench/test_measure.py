"""The bench's own measurements that need no deployed stack."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fanout_tools.bench import designs, measure
from fanout_tools.errors import FanoutError
from fanout_tools.sandbox.batch_runner import substitute


def test_reader_start_up_times_the_array_childs_whole_command(tmp_path: Path) -> None:
    """The bench's array command (the job definition's reader, then ``true``) in fresh processes."""
    uri = measure.local_batch(tmp_path, [b'{"index":0}', b'{"index":1}'])
    command = substitute(designs.job_command("distributed_array"), {"items_uri": uri})
    assert command[:3] == ["python3", "-I", "-S"]
    seconds = measure.reader_start_up(command, {"AWS_BATCH_JOB_ARRAY_INDEX": "1"}, runs=2)
    assert seconds > 0


def test_the_interpreter_is_timed_itself_not_a_shim_in_front_of_it(tmp_path: Path) -> None:
    shim = tmp_path / "python3"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    shim.chmod(0o755)
    assert measure.real_interpreter(str(shim)) == sys.executable
    with pytest.raises(FanoutError, match="/nonexistent/python3 did not start"):
        measure.real_interpreter("/nonexistent/python3")


def test_a_reader_that_fails_is_named_with_its_error(tmp_path: Path) -> None:
    uri = measure.local_batch(tmp_path, [b"only"])
    command = substitute(designs.job_command("distributed_array"), {"items_uri": uri})
    with pytest.raises(
        FanoutError, match="the array reader exited 66: fanout_item: the items object has no line 5"
    ) as raised:
        measure.reader_start_up(command, {"AWS_BATCH_JOB_ARRAY_INDEX": "5"}, runs=1)
    assert "tests/lambda/test_inline_reader.py" in raised.value.hint
