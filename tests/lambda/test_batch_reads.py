"""O(1) reads: the generator writes each batch with an offset index, and array child i fetches only its
own line, with real SigV4-signed HTTP requests against an S3 API (moto's server on 127.0.0.1).

Measured per child: at most 2 requests and at most item size + 512 bytes of body, at any index.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import batches
import fanout_item
import handler
import pytest

ITEM_MAX = 30 * 1024  # the largest item a batch line may hold (Batch's SubmitJob limit)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_server: str) -> tuple[object, str]:
    import uuid

    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"reads-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=name)
    return client, name


def _reader(s3_server: str) -> fanout_item.S3:
    env = {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    return fanout_item.S3(env=env)


def _items(count: int) -> list[str]:
    """Items of very different sizes: tiny ones, 30 KiB ones, and everything between."""
    rng = random.Random(7)
    sizes = [1, ITEM_MAX, 200, ITEM_MAX - 1, *(rng.randint(1, ITEM_MAX) for _ in range(count - 4))]
    return [
        json.dumps({"i": i, "pad": "x" * max(0, size - 20)}, separators=(",", ":"))
        for i, size in enumerate(sizes)
    ]


def _write(generator_env, client, bucket: str, items: list[str], per_batch: int) -> list[dict]:
    generator_env("distributed_array", FANOUT_ITEMS_PER_BATCH=str(per_batch), FANOUT_BUCKET=bucket)
    settings = handler.Settings.from_env()
    request = handler.parse_input({"items": [json.loads(t) for t in items]}, settings)
    result = handler.distributed_array_result(request, settings, client, "runs/reads/")
    body = client.get_object(Bucket=bucket, Key=result["manifest"]["key"])["Body"].read()
    return json.loads(body)


def test_the_generator_writes_an_offset_index_beside_each_batch(generator_env, bucket):
    client, name = bucket
    items = _items(30)
    rows = _write(generator_env, client, name, items, per_batch=12)
    assert [row["size"] for row in rows] == [12, 12, 6]
    for row in rows:
        key = row["items_uri"].split("/", 3)[3]
        data = client.get_object(Bucket=name, Key=key)["Body"].read()
        index = client.get_object(Bucket=name, Key=batches.index_key(key))["Body"].read()
        offsets = [int.from_bytes(index[i : i + 8], "big") for i in range(0, len(index), 8)]
        assert len(offsets) == row["size"] + 1
        assert offsets[0] == 0 and offsets[-1] == len(data)
        lines = data.splitlines(keepends=True)
        assert [offsets[i + 1] - offsets[i] for i in range(len(lines))] == [len(line) for line in lines]


def test_each_child_reads_its_line_with_two_requests_and_only_its_bytes(generator_env, bucket, s3_server):
    client, name = bucket
    items = _items(400)
    rows = _write(generator_env, client, name, items, per_batch=400)
    uri = rows[0]["items_uri"]
    worst = 0
    for index in [0, 1, 2, 3, 199, 398, 399]:
        s3 = _reader(s3_server)
        assert fanout_item.read_item(uri, index, s3) == items[index]
        size = len(items[index].encode())
        assert s3.requests <= 2, (index, s3.requests)
        assert s3.bytes_read <= size + 512, (index, s3.bytes_read, size)
        worst = max(worst, s3.bytes_read - size)
    assert worst == 17  # 16 bytes of index + the line's newline, at every index
    with pytest.raises(fanout_item.ItemNotFoundError):
        fanout_item.read_item(uri, 400, _reader(s3_server))


def test_without_the_index_the_last_child_reads_the_whole_batch(bucket, s3_server):
    """The layout before the index (kept as a fallback): child i streams lines 0..i."""
    client, name = bucket
    items = _items(50)
    body = "".join(t + "\n" for t in items).encode()
    client.put_object(Bucket=name, Key="old/batch.jsonl", Body=body)
    s3 = _reader(s3_server)
    assert fanout_item.read_item(f"s3://{name}/old/batch.jsonl", 49, s3) == items[49]
    assert s3.bytes_read == len(body)


def test_a_batch_written_by_hand_has_the_generators_layout() -> None:
    """``batches.encode`` (the bench and the tests write small batches with it): line i starts at index
    entry i, and the last entry is the batch's size."""
    import struct

    items = [b'{"a":1}', b"", "é".encode(), b"x" * 300]
    body, index = batches.encode(items)
    offsets = struct.unpack(f">{len(items) + 1}Q", index)
    assert [body[offsets[i] : offsets[i + 1]] for i in range(len(items))] == [i + b"\n" for i in items]
    assert offsets[-1] == len(body)
