"""Generator Lambda: input validation (named errors), per-mode output, S3 streaming."""

from __future__ import annotations

import json
import tracemalloc

import handler
import pytest

BUCKET = "fanout-test-bucket"  # the bucket the s3_bucket fixture (conftest.py) creates


def read_object(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("payload", "error", "words"),
    [
        ([1, 2], "InvalidInputError", "must be a JSON object"),
        ({}, "InvalidInputError", "exactly one of 'items' or 'count'"),
        ({"items": [1], "count": 1}, "InvalidInputError", "exactly one of"),
        ({"itmes": [1]}, "InvalidInputError", "unknown input field(s) itmes"),
        ({"items": []}, "InvalidInputError", "non-empty JSON array"),
        ({"items": "abc"}, "InvalidInputError", "non-empty JSON array"),
        ({"items": [1], "template": {}}, "InvalidInputError", "'template' only applies with 'count'"),
        ({"count": 0}, "InvalidInputError", "positive integer"),
        ({"count": -3}, "InvalidInputError", "positive integer"),
        ({"count": True}, "InvalidInputError", "positive integer"),
        ({"count": "10"}, "InvalidInputError", "positive integer"),
        ({"count": 2.5}, "InvalidInputError", "positive integer"),
        ({"count": 2, "template": [1]}, "InvalidInputError", "'template' must be a JSON object"),
        ({"count": 2, "template": {"index": 7}}, "InvalidInputError", "must not contain 'index'"),
        ({"count": 50_000}, "TooManyItemsError", "inline mode handles: at most 2,560"),
        ({"items": ["x" * 40_000]}, "InvalidInputError", "item 0 is 40,002 bytes"),
        ({"count": 1, "template": {"blob": "x" * 40_000}}, "InvalidInputError", "Make the template smaller"),
    ],
)
def test_bad_input_raises_named_error_saying_what_is_wrong(generator_env, payload, error, words, invoke):
    generator_env("inline")
    with pytest.raises(Exception) as caught:
        invoke({"input": payload, "execution_name": "exec-1"})
    assert type(caught.value).__name__ == error
    assert words in str(caught.value)


def test_too_many_items_names_the_limit_and_a_mode_that_fits(generator_env, invoke):
    generator_env("inline")
    with pytest.raises(handler.TooManyItemsError) as caught:
        invoke({"input": {"count": 50_000}, "execution_name": "e"})
    message = str(caught.value)
    assert "sfn_payload_bytes" in message
    assert 'fanout_mode = "array"' in message


def test_deployment_ceiling_from_env_applies(generator_env, invoke):
    generator_env("inline", FANOUT_MAX_ITEMS="5")
    with pytest.raises(handler.TooManyItemsError, match="FANOUT_MAX_ITEMS"):
        invoke({"input": {"count": 6}, "execution_name": "e"})
    assert invoke({"input": {"count": 5}, "execution_name": "e"})["count"] == 5


def test_bad_environment_is_a_config_error_not_an_input_error(generator_env, invoke):
    generator_env("sideways")
    with pytest.raises(handler.GeneratorConfigError, match="FANOUT_MODE"):
        invoke({"input": {"count": 1}})


def test_s3_modes_need_an_execution_name(generator_env, invoke):
    generator_env("array")
    with pytest.raises(handler.InvalidInputError, match="execution_name"):
        invoke({"input": {"count": 3}})


def test_inline_output_over_payload_budget_is_rejected(generator_env, invoke):
    generator_env("inline")
    items = ["y" * 20_000 for _ in range(14)]  # 280 kB: each item is fine, all together are not
    with pytest.raises(handler.TooManyItemsError, match="payload budget for inline mode"):
        invoke({"input": {"items": items}, "execution_name": "e"})


# ---------------------------------------------------------------- inline


def test_inline_returns_explicit_items_unchanged(generator_env, invoke):
    generator_env("inline")
    items = [{"file": "a.csv"}, 7, "text", [1, 2], None]
    assert invoke({"input": {"items": items}, "execution_name": "e"}) == {
        "mode": "inline",
        "count": 5,
        "items": items,
        "rerun_of": None,
    }


def test_inline_count_merges_template_with_index(generator_env, invoke):
    generator_env("inline")
    result = invoke({"input": {"count": 3, "template": {"size": "L"}}, "execution_name": "e"})
    assert result["items"] == [
        {"size": "L", "index": 0},
        {"size": "L", "index": 1},
        {"size": "L", "index": 2},
    ]
    bare = invoke({"input": {"count": 2}, "execution_name": "e"})
    assert bare["items"] == [{"index": 0}, {"index": 1}]


# ---------------------------------------------------------------- array


def test_array_mode_writes_jsonl_batches_and_returns_them(generator_env, s3_bucket, invoke):
    generator_env("array", FANOUT_ITEMS_PER_BATCH="10")
    result = invoke({"input": {"count": 25, "template": {"t": 1}}, "execution_name": "run-a"})
    assert result["mode"] == "array" and result["count"] == 25
    assert [b["size"] for b in result["batches"]] == [10, 10, 5]
    assert result["batches"][2] == {
        "batch": 2,
        "items_uri": f"s3://{BUCKET}/runs/run-a/items/batch-000002.jsonl",
        "size": 5,
    }
    lines = read_object(s3_bucket, "runs/run-a/items/batch-000001.jsonl").decode().splitlines()
    # line i of batch k is item k * items_per_batch + i: what AWS_BATCH_JOB_ARRAY_INDEX selects
    assert [json.loads(line) for line in lines] == [{"t": 1, "index": 10 + i} for i in range(10)]


def test_array_mode_keeps_explicit_items_order(generator_env, s3_bucket, invoke):
    generator_env("array", FANOUT_ITEMS_PER_BATCH="2")
    items = ["a", {"b": [1]}, 3]
    result = invoke({"input": {"items": items}, "execution_name": "r"})
    got = []
    for batch in result["batches"]:
        key = batch["items_uri"].split(f"s3://{BUCKET}/", 1)[1]
        got += [json.loads(line) for line in read_object(s3_bucket, key).splitlines()]
    assert got == items


# ---------------------------------------------------------------- distributed


def test_distributed_mode_writes_manifest_of_batches(generator_env, s3_bucket, invoke):
    generator_env("distributed", FANOUT_ITEMS_PER_BATCH="4")
    result = invoke({"input": {"count": 10}, "execution_name": "run-d"})
    assert result == {
        "mode": "distributed",
        "count": 10,
        "batch_count": 3,
        "manifest": {"bucket": BUCKET, "key": "runs/run-d/manifest.json"},
        "rerun_of": None,
    }
    manifest = json.loads(read_object(s3_bucket, "runs/run-d/manifest.json"))
    assert [(row["batch"], row["first_index"], len(row["items"])) for row in manifest] == [
        (0, 0, 4),
        (1, 4, 4),
        (2, 8, 2),
    ]
    assert manifest[2]["items"] == [{"index": 8}, {"index": 9}]


def test_distributed_batches_are_bounded_by_bytes(generator_env, s3_bucket, invoke):
    generator_env("distributed", FANOUT_ITEMS_PER_BATCH="1000")
    items = ["z" * 10_000 for _ in range(60)]  # 600 kB: must be split although 60 < items_per_batch
    invoke({"input": {"items": items}, "execution_name": "big"})
    manifest = json.loads(read_object(s3_bucket, "runs/big/manifest.json"))
    assert len(manifest) == 3
    assert sum(len(row["items"]) for row in manifest) == 60
    for row in manifest:
        assert len(json.dumps(row, separators=(",", ":")).encode()) < 256 * 1024


def test_distributed_array_mode_writes_jsonl_and_manifest(generator_env, s3_bucket, invoke):
    generator_env("distributed_array", FANOUT_ITEMS_PER_BATCH="3")
    result = invoke({"input": {"items": [1, 2, 3, 4]}, "execution_name": "run-da"})
    assert result["batch_count"] == 2
    manifest = json.loads(read_object(s3_bucket, result["manifest"]["key"]))
    assert manifest == [
        {"batch": 0, "items_uri": f"s3://{BUCKET}/runs/run-da/items/batch-000000.jsonl", "size": 3},
        {"batch": 1, "items_uri": f"s3://{BUCKET}/runs/run-da/items/batch-000001.jsonl", "size": 1},
    ]
    assert read_object(s3_bucket, "runs/run-da/items/batch-000001.jsonl") == b"4\n"


def test_large_manifest_uses_multipart_upload_with_5mib_parts(generator_env, s3_bucket):
    generator_env("distributed", FANOUT_ITEMS_PER_BATCH="2000")
    calls = []
    real_upload_part = s3_bucket.upload_part

    def spy(**kwargs):
        calls.append(len(kwargs["Body"]))
        return real_upload_part(**kwargs)

    writer = handler.S3StreamWriter(s3_bucket, BUCKET, "runs/mp/manifest.json", "application/json")
    writer.s3 = type("Spy", (), {})()
    for name in (
        "create_multipart_upload",
        "complete_multipart_upload",
        "abort_multipart_upload",
        "put_object",
    ):
        setattr(writer.s3, name, getattr(s3_bucket, name))
    writer.s3.upload_part = spy
    with writer:
        for i in range(300_000):  # ~ 17 MB
            writer.write(b'{"index":%d,"pad":"0123456789012345678901234567890123456789"},' % i)
    assert len(calls) >= 3
    assert all(size >= handler.MIN_PART_BYTES for size in calls[:-1])
    body = read_object(s3_bucket, "runs/mp/manifest.json")
    assert body.startswith(b'{"index":0,') and body.endswith(
        b'{"index":299999,"pad":"0123456789012345678901234567890123456789"},'
    )


def test_failed_stream_aborts_the_multipart_upload(s3_bucket):
    writer = handler.S3StreamWriter(s3_bucket, BUCKET, "runs/x/manifest.json", "application/json")
    with pytest.raises(RuntimeError), writer as out:
        out.write(b"x" * (handler.PART_BYTES + 1))
        raise RuntimeError("boom")
    assert s3_bucket.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert "Contents" not in s3_bucket.list_objects_v2(Bucket=BUCKET)


class CountingS3:
    """Discards uploads (so tracemalloc sees only the generator's memory), counting bytes."""

    def __init__(self) -> None:
        self.bytes = 0
        self.parts = 0

    def create_multipart_upload(self, **kwargs):
        return {"UploadId": "u"}

    def upload_part(self, **kwargs):
        self.bytes += len(kwargs["Body"])
        self.parts += 1
        return {"ETag": f"e{self.parts}"}

    def complete_multipart_upload(self, **kwargs):
        return {}

    def put_object(self, **kwargs):
        self.bytes += len(kwargs["Body"])
        return {}


@pytest.mark.parametrize("mode", ["distributed", "distributed_array"])
def test_generator_streams_without_holding_the_item_list(generator_env, mode):
    generator_env(mode, FANOUT_ITEMS_PER_BATCH="1000")
    settings = handler.Settings.from_env()
    request = handler.parse_input({"count": 200_000, "template": {"job": "render"}}, settings)
    s3 = CountingS3()
    tracemalloc.start()
    try:
        if mode == "distributed":
            result = handler.distributed_result(request, settings, s3, "runs/m/")
        else:
            result = handler.distributed_array_result(request, settings, s3, "runs/m/")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["count"] == 200_000 and result["batch_count"] == 200
    assert s3.bytes > 5_000_000  # the items were all written ...
    assert peak < 20 * 1024 * 1024  # ... but never held at once (one part buffer + one batch)
