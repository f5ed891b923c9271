"""Job-side helper: an array child finds its item by AWS_BATCH_JOB_ARRAY_INDEX and runs the command on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fanout_item
import pytest

JOB_DIR = Path(fanout_item.__file__).parent
BUCKET = "fanout-test-bucket"  # the bucket the s3_bucket fixture (conftest.py) creates


def put_items(s3, key: str, count: int) -> str:
    body = b"".join(b'{"index":%d}\n' % i for i in range(count))
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def test_child_execs_command_with_its_item(monkeypatch, s3_bucket):
    uri = put_items(s3_bucket, "runs/e/items/batch-000000.jsonl", 50)
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", "17")
    calls = []
    code = fanout_item.main(
        [uri, "--", "echo", "-n"], exec_fn=lambda f, a: calls.append((f, a)), s3=s3_bucket
    )
    assert code == 0
    assert calls == [("echo", ["echo", "-n", '{"index":17}'])]


def test_plain_job_without_array_index_reads_line_zero(monkeypatch, s3_bucket):
    uri = put_items(s3_bucket, "runs/e/items/batch-000001.jsonl", 1)
    monkeypatch.delenv("AWS_BATCH_JOB_ARRAY_INDEX", raising=False)
    calls = []
    fanout_item.main([uri, "--", "run"], exec_fn=lambda f, a: calls.append(a), s3=s3_bucket)
    assert calls == [["run", '{"index":0}']]


def test_missing_line_and_bad_usage_exit_non_zero(monkeypatch, s3_bucket, capsys):
    uri = put_items(s3_bucket, "runs/e/items/short.jsonl", 3)
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", "3")
    assert fanout_item.main([uri, "--", "echo"], exec_fn=lambda f, a: None, s3=s3_bucket) == 66
    assert "no line 3" in capsys.readouterr().err
    assert fanout_item.main([uri, "echo"]) == 64
    assert fanout_item.main(["http://x/y", "--", "echo"]) == 66


def test_reading_stops_at_the_wanted_line():
    consumed = []

    def lines():
        for i in range(1_000_000):
            consumed.append(i)
            yield b"%d\n" % i

    assert fanout_item.nth_line(lines(), 5) == "5"
    assert len(consumed) == 6


def test_exit_code_of_the_command_is_the_job_exit_code(tmp_path):
    items = tmp_path / "batch.jsonl"
    items.write_text('{"a":1}\n{"a":2}\n')
    env = {**os.environ, "AWS_BATCH_JOB_ARRAY_INDEX": "1", "PYTHONPATH": str(JOB_DIR)}
    script = "import sys; print(sys.argv[1]); sys.exit(3)"
    done = subprocess.run(
        [sys.executable, "-m", "fanout_item", items.as_uri(), "--", sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout.strip() == '{"a":2}'


@pytest.mark.parametrize("raw", ["-1", "x"])
def test_bad_array_index_is_rejected(raw):
    with pytest.raises(ValueError):
        fanout_item.array_index({"AWS_BATCH_JOB_ARRAY_INDEX": raw})
