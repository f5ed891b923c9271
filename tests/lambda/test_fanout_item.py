"""Job-side reader: an array child finds its item by AWS_BATCH_JOB_ARRAY_INDEX and runs the command on it.

Standard library only: SigV4 is checked against botocore's signer, the credential chain against local
HTTP servers standing in for the container credentials endpoint and the instance metadata service.
Reads against a real S3 API (moto's server) are in ``test_batch_reads.py``.
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import batches
import fanout_item
import pytest

JOB_DIR = Path(fanout_item.__file__).parent
CREDS = {"key": "AKIDEXAMPLE", "secret": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token": None}


class MemoryS3:
    """Objects in a dict, with the reader's S3 interface (ranged GETs, line streaming)."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.requests = 0

    def _body(self, key: str) -> bytes:
        self.requests += 1
        if key not in self.objects:
            raise fanout_item.NotFound(key)
        return self.objects[key]

    def get_range(self, bucket: str, key: str, first: int, last: int) -> bytes:
        body = self._body(key)
        if first >= len(body):
            raise fanout_item.ItemNotFoundError("range not satisfiable")
        return body[first : last + 1]

    def lines(self, bucket: str, key: str) -> Iterator[bytes]:
        yield from self._body(key).splitlines(keepends=True)


def batch_objects(key: str, items: list[bytes], with_index: bool = True) -> dict[str, bytes]:
    body, index = batches.encode(items)
    objects = {key: body}
    if with_index:
        objects[batches.index_key(key)] = index
    return objects


ITEMS = [b'{"index":%d}' % i for i in range(50)]


def test_child_execs_command_with_its_item(monkeypatch):
    s3 = MemoryS3(batch_objects("runs/e/items/batch-000000.jsonl", ITEMS))
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", "17")
    calls = []
    uri = "s3://b/runs/e/items/batch-000000.jsonl"
    code = fanout_item.main([uri, "--", "echo", "-n"], exec_fn=lambda f, a: calls.append((f, a)), s3=s3)
    assert code == 0
    assert calls == [("echo", ["echo", "-n", '{"index":17}'])]
    assert s3.requests == 2  # 16 bytes of the index, then the line


def test_plain_job_without_array_index_reads_line_zero(monkeypatch):
    s3 = MemoryS3(batch_objects("k.jsonl", ITEMS[:1]))
    monkeypatch.delenv("AWS_BATCH_JOB_ARRAY_INDEX", raising=False)
    calls = []
    fanout_item.main(["s3://b/k.jsonl", "--", "run"], exec_fn=lambda f, a: calls.append(a), s3=s3)
    assert calls == [["run", '{"index":0}']]


def test_batch_without_an_index_is_streamed_up_to_the_line(monkeypatch):
    s3 = MemoryS3(batch_objects("old.jsonl", ITEMS, with_index=False))
    assert fanout_item.read_item("s3://b/old.jsonl", 9, s3) == '{"index":9}'


def test_missing_line_missing_object_and_bad_usage_exit_non_zero(monkeypatch, capsys):
    s3 = MemoryS3(batch_objects("short.jsonl", ITEMS[:3]))
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", "3")  # the index has 4 entries: line 3 has no end
    assert fanout_item.main(["s3://b/short.jsonl", "--", "echo"], exec_fn=lambda f, a: None, s3=s3) == 66
    assert "no line 3" in capsys.readouterr().err
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", "7")  # past the index's end: S3 answers 416
    assert fanout_item.main(["s3://b/short.jsonl", "--", "echo"], exec_fn=lambda f, a: None, s3=s3) == 66
    assert fanout_item.main(["s3://b/none.jsonl", "--", "echo"], exec_fn=lambda f, a: None, s3=s3) == 66
    assert "does not exist" in capsys.readouterr().err
    assert fanout_item.main(["s3://b/short.jsonl", "echo"]) == 64
    assert fanout_item.main(["http://x/y", "--", "echo"]) == 66


def test_an_index_that_does_not_match_its_batch_is_refused():
    objects = batch_objects("k.jsonl", ITEMS)
    objects["k.jsonl"] = objects["k.jsonl"].replace(b"\n", b" ", 1)
    with pytest.raises(fanout_item.ItemNotFoundError, match="does not match"):
        fanout_item.read_item("s3://b/k.jsonl", 0, MemoryS3(objects))


def test_streaming_stops_at_the_wanted_line():
    consumed = []

    def lines():
        for i in range(1_000_000):
            consumed.append(i)
            yield b"%d\n" % i

    assert fanout_item.nth_line(lines(), 5) == "5"
    assert len(consumed) == 6


def test_exit_code_of_the_command_is_the_job_exit_code(tmp_path):
    items = tmp_path / "batch.jsonl"
    for key, body in batch_objects(str(items), [b'{"a":1}', b'{"a":2}']).items():
        Path(key).write_bytes(body)
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


def test_the_reader_imports_nothing_outside_the_standard_library():
    code = (
        f"import sys; sys.path.insert(0, {str(JOB_DIR)!r}); import fanout_item; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'urllib3')))"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- SigV4 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("https://my-bucket.s3.eu-west-1.amazonaws.com/runs/e/items/batch-000000.jsonl.idx", None),
        ("http://127.0.0.1:4566/my-bucket/runs/a%20b/items/x=1,y~z.jsonl", "session/token+="),
    ],
)
def test_signature_matches_botocore(monkeypatch, url, token):
    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    now = datetime.datetime(2026, 11, 25, 12, 34, 56)

    class FixedClock(datetime.datetime):
        @classmethod
        def utcnow(cls):  # type: ignore[override]
            return now

    monkeypatch.setattr(auth.datetime, "datetime", FixedClock)
    request = AWSRequest(method="GET", url=url, headers={"Range": "bytes=8-23"})
    auth.S3SigV4Auth(Credentials(CREDS["key"], CREDS["secret"], token), "s3", "eu-west-1").add_auth(request)

    from urllib.parse import urlsplit

    parts = urlsplit(url)
    signed = fanout_item.sign(
        "GET",
        parts.netloc,
        parts.path,
        {"Range": "bytes=8-23"},
        {**CREDS, "token": token},
        "eu-west-1",
        now.strftime("%Y%m%dT%H%M%SZ"),
    )
    assert signed["authorization"] == request.headers["Authorization"]
    assert signed["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"]


def test_addressing_virtual_hosted_path_style_and_endpoint_override():
    s3 = fanout_item.S3(env={}, creds=CREDS, region_name="eu-west-1")
    assert s3._address("my-bucket", "a b/c") == ("https", "my-bucket.s3.eu-west-1.amazonaws.com", "/a%20b/c")
    assert s3._address("my.bucket", "k") == ("https", "s3.eu-west-1.amazonaws.com", "/my.bucket/k")
    local = fanout_item.S3(
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2"},
        creds=CREDS,
        region_name="us-east-1",
    )
    assert local._address("b", "k") == ("http", "127.0.0.1:2", "/b/k")
    from urllib.parse import quote

    key = "runs/a b/ü=1,x+y~z;(q)*'!@$&:?#[]%"
    assert fanout_item.quote(key) == quote(key, safe="/~")
    china = fanout_item.S3(env={}, creds=CREDS, region_name="cn-north-1")
    assert china._address("b", "k")[1] == "b.s3.cn-north-1.amazonaws.com.cn"


# --- credentials and Region -----------------------------------------------------------------------


class Endpoint:
    """A local HTTP server answering the container endpoint's and IMDS's paths; records requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.routes: dict[tuple[str, str], tuple[int, bytes]] = {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                owner.requests.append((self.command, self.path, dict(self.headers)))
                status, body = owner.routes.get((self.command, self.path), (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def creds(self, key: str) -> bytes:
        return json.dumps(
            {"AccessKeyId": key, "SecretAccessKey": "s-" + key, "Token": "t-" + key, "Expiration": "x"}
        ).encode()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.server.shutdown()


def test_environment_variables_come_first(endpoint):
    env = {
        "AWS_ACCESS_KEY_ID": "ENV",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_SESSION_TOKEN": "t",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url + "/creds",
    }
    assert fanout_item.credentials(env) == {"key": "ENV", "secret": "s", "token": "t"}
    assert endpoint.requests == []


def test_container_endpoint_full_uri_with_its_authorization_token(endpoint, tmp_path):
    endpoint.routes[("GET", "/creds")] = (200, endpoint.creds("CONTAINER"))
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url + "/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-env",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),  # the file wins
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": endpoint.url,
    }
    assert fanout_item.credentials(env) == {
        "key": "CONTAINER",
        "secret": "s-CONTAINER",
        "token": "t-CONTAINER",
    }
    assert [(m, p, h.get("Authorization")) for m, p, h in endpoint.requests] == [
        ("GET", "/creds", "from-file")
    ]


def test_container_endpoint_relative_uri_wins_over_full_uri(endpoint, monkeypatch):
    endpoint.routes[("GET", "/v2/credentials/abc")] = (200, endpoint.creds("RELATIVE"))
    monkeypatch.setattr(fanout_item, "CONTAINER_HOST", endpoint.url)  # 169.254.170.2 in ECS/Fargate
    env = {
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url + "/other",
    }
    assert fanout_item.credentials(env)["key"] == "RELATIVE"


def test_full_uri_over_plain_http_must_be_local():
    with pytest.raises(fanout_item.ReadError, match="loopback"):
        fanout_item.credentials({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://example.com/creds"})


def test_instance_profile_through_imdsv2_when_nothing_else_is_set(endpoint):
    endpoint.routes[("PUT", "/latest/api/token")] = (200, b"TOKEN")
    endpoint.routes[("GET", "/latest/meta-data/iam/security-credentials/")] = (200, b"job-role\n")
    endpoint.routes[("GET", "/latest/meta-data/iam/security-credentials/job-role")] = (
        200,
        endpoint.creds("EC2"),
    )
    endpoint.routes[("GET", "/latest/meta-data/placement/region")] = (200, b"ap-south-1")
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": endpoint.url}
    assert fanout_item.credentials(env)["key"] == "EC2"
    gets = [(m, h.get("X-aws-ec2-metadata-token")) for m, _, h in endpoint.requests if m == "GET"]
    assert gets == [("GET", "TOKEN"), ("GET", "TOKEN")]
    assert fanout_item.region(env) == "ap-south-1"
    assert fanout_item.region({**env, "AWS_DEFAULT_REGION": "eu-west-3"}) == "eu-west-3"
    assert (
        fanout_item.region({**env, "AWS_DEFAULT_REGION": "eu-west-3", "AWS_REGION": "sa-east-1"})
        == "sa-east-1"
    )


def test_no_source_is_a_clear_error(endpoint):
    with pytest.raises(fanout_item.ReadError, match="no credentials"):
        fanout_item.credentials({"AWS_EC2_METADATA_DISABLED": "true"})
    assert fanout_item.region({"AWS_EC2_METADATA_DISABLED": "true"}) == "us-east-1"


def test_credentials_endpoint_errors_exit_75(endpoint, monkeypatch, capsys):
    endpoint.routes[("GET", "/creds")] = (403, b"denied")
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url + "/creds")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert fanout_item.main(["s3://b/k", "--", "echo"], exec_fn=lambda f, a: None) == 75
    assert "HTTP 403" in capsys.readouterr().err
