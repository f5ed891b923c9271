"""Array-child reader: run a command on this child's item. Python >= 3.8, standard library only.

    python3 -m fanout_item s3://BUCKET/runs/EXEC/items/batch-000000.jsonl -- CMD [ARGS...]

Child i (AWS_BATCH_JOB_ARRAY_INDEX; 0 for a plain job) reads its line with two ranged GETs: 16 bytes
of the batch's offset index (KEY + ".idx": big-endian uint64 offsets, entry i = start of line i, the
last entry = size of the batch), then line i itself. It then replaces itself with CMD ARGS... ITEM,
so the command's exit code is the job's. A batch without an index is streamed up to line i.
file:// URIs read a local file (to try a command locally).

Requests are signed with SigV4 (no SDK). Credentials, in the SDKs' order: AWS_ACCESS_KEY_ID +
AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), the container credentials endpoint (ECS, Fargate,
Batch job roles), the EC2 instance profile (IMDSv2). Region: AWS_REGION, AWS_DEFAULT_REGION, else
the instance's. Endpoint: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (path-style), else Amazon S3.

Exit codes of its own: 64 bad usage, 66 no such line or object, 75 S3 or credentials unavailable,
127 command not found.
"""

from __future__ import annotations

import os
import struct
import sys
import time

try:  # the interpreter's own SHA-256: importing hashlib/hmac loads OpenSSL, a third of start-up time
    from _sha2 import sha256  # Python >= 3.12
except ImportError:
    try:
        from _sha256 import sha256  # Python <= 3.11
    except ImportError:
        from hashlib import sha256

USAGE = "usage: python3 -m fanout_item s3://BUCKET/KEY -- CMD [ARGS...]"
INDEX_SUFFIX = ".idx"
ENTRY = struct.Struct(">Q")  # one offset of the index
PAIR = struct.Struct(">QQ")  # start of line i, start of line i+1
EMPTY_SHA256 = sha256(b"").hexdigest()
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~/")
CONTAINER_HOST = "http://169.254.170.2"
IMDS_HOST = "http://169.254.169.254"
# Hosts AWS_CONTAINER_CREDENTIALS_FULL_URI may name over http:
# https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html
CONTAINER_HTTP_HOSTS = ("localhost", "169.254.170.2", "169.254.170.23", "fd00:ec2::23", "::1")
ATTEMPTS = 4


class ItemNotFoundError(Exception):
    """The batch has no line at this index, or the batch does not exist."""


class ReadError(Exception):
    """S3 or the credential source did not answer usefully."""


def array_index(env=None) -> int:
    raw = (os.environ if env is None else env).get("AWS_BATCH_JOB_ARRAY_INDEX", "0") or "0"
    index = int(raw)
    if index < 0:
        raise ValueError(f"AWS_BATCH_JOB_ARRAY_INDEX={raw} is negative")
    return index


def nth_line(lines, index: int) -> str:
    """Line ``index`` (0-based) of a stream of lines, without reading past it."""
    for number, line in enumerate(lines):
        if number == index:
            return line.rstrip(b"\r\n").decode("utf-8")
    raise ItemNotFoundError(f"the items object has no line {index}")


def index_key(key: str) -> str:
    """Key of a batch's offset index (the generator writes it beside the batch)."""
    return key + INDEX_SUFFIX


def urlsplit(url: str) -> tuple:
    """(scheme, host, port, path) of an absolute URL (what this reader needs of urllib.parse)."""
    scheme, _, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    host, port = netloc, None
    if netloc.startswith("["):
        host, _, tail = netloc[1:].partition("]")
        port = tail[1:] or None
    elif netloc.count(":") == 1:
        host, port = netloc.split(":")
    return scheme, host, int(port) if port else None, slash + path


def quote(path: str) -> str:
    """URI-encode an S3 key for SigV4 (every byte but unreserved characters and '/')."""
    return "".join(chr(b) if b in UNRESERVED else f"%{b:02X}" for b in path.encode())


def _sleep(attempt: int) -> None:
    import random

    time.sleep(random.uniform(0, 0.2 * 2**attempt))


# --- HTTP and credentials -------------------------------------------------------------------------


class Connection:
    """HTTP/1.1 over one kept-alive socket (importing http.client alone costs more than this reader's
    start-up budget). Bodies are read by Content-Length, else up to the connection's close."""

    def __init__(self, scheme, host, port=None, timeout=30.0):
        import socket

        self.netloc = host if port is None else f"{host}:{port}"
        port = port or (443 if scheme == "https" else 80)
        sock = socket.create_connection((host.strip("[]"), port), timeout)
        if scheme == "https":
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host.strip("[]"))
        self.sock, self.file, self.usable = sock, sock.makefile("rb"), True

    def request(self, method, path, headers):
        head = {"host": self.netloc, **headers}
        if method != "GET":
            head["content-length"] = "0"
        lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
        self.sock.sendall("\r\n".join(lines).encode("latin-1"))
        status = self.file.readline(65537).split(None, 2)
        if len(status) < 2:
            raise OSError("the server closed the connection")
        response = Response(int(status[1]), self)
        while True:
            line = self.file.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            response.headers[name.strip().lower()] = value.strip()
        return response

    def close(self):
        self.usable = False
        self.sock.close()


class Response:
    def __init__(self, status, conn):
        self.status, self.conn, self.headers = status, conn, {}

    def _left(self):
        length = self.headers.get("content-length")
        return None if length is None else int(length)

    def read(self):
        left, file = self._left(), self.conn.file
        if left is not None:
            body = file.read(left)
        else:  # no length (S3, ECS and IMDS send one): read to the close
            body = file.read()
            self.conn.usable = False
        if self.headers.get("connection", "").lower() == "close":
            self.conn.usable = False
        return body

    def lines(self):
        left = self._left()
        if left is None:
            yield from self.read().splitlines(keepends=True)
            return
        while left > 0:
            line = self.conn.file.readline(left)
            if not line:
                return
            left -= len(line)
            yield line


def http_call(method, url, headers=None, timeout=2.0):
    """(status, body) of one request; raises OSError when nothing answers."""
    scheme, host, port, path = urlsplit(url)
    conn = Connection(scheme, host, port, timeout)
    try:
        response = conn.request(method, path or "/", headers or {})
        return response.status, response.read()
    finally:
        conn.close()


def _retry(call):
    for attempt in range(ATTEMPTS):
        try:
            status, body = call()
        except OSError as err:
            status, body = None, str(err).encode()
        if status is not None and status < 500:
            return status, body
        if attempt + 1 < ATTEMPTS:
            _sleep(attempt)
    return status, body


def _credential_json(body: bytes, source: str) -> dict:
    import json

    try:
        data = json.loads(body)
        return {"key": data["AccessKeyId"], "secret": data["SecretAccessKey"], "token": data.get("Token")}
    except (ValueError, KeyError, TypeError):
        raise ReadError(f"{source} returned no credentials") from None


def container_endpoint(env) -> tuple:
    """(url, headers) of the container credentials endpoint, or (None, None)."""
    relative = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative:
        return CONTAINER_HOST + relative, {}
    full = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not full:
        return None, None
    scheme, host, _, _ = urlsplit(full)
    if scheme != "https" and not (host in CONTAINER_HTTP_HOSTS or host.startswith("127.")):
        raise ReadError("AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback/ECS/EKS address")
    headers = {}
    token_file = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if token_file:
        with open(token_file) as handle:
            headers["Authorization"] = handle.read().strip()
    elif env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"):
        headers["Authorization"] = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    return full, headers


def _imds(env, path, get=http_call):
    """Body of an instance metadata path (IMDSv2 session token, IMDSv1 if no token is served)."""
    base = (env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or IMDS_HOST).rstrip("/")
    headers = {}
    status, token = _retry(
        lambda: get("PUT", base + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    )
    if status == 200:
        headers["X-aws-ec2-metadata-token"] = token.decode()
    status, body = _retry(lambda: get("GET", base + path, headers))
    if status != 200:
        raise ReadError(f"instance metadata {path}: HTTP {status}")
    return body


def _imds_enabled(env) -> bool:
    return (env.get("AWS_EC2_METADATA_DISABLED") or "").lower() != "true"


def credentials(env=None, get=http_call) -> dict:
    """Credentials in the SDKs' order (environment, container endpoint, instance profile).

    https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html
    """
    env = os.environ if env is None else env
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        token = env.get("AWS_SESSION_TOKEN") or None
        return {"key": env["AWS_ACCESS_KEY_ID"], "secret": env["AWS_SECRET_ACCESS_KEY"], "token": token}
    url, headers = container_endpoint(env)
    if url:
        status, body = _retry(lambda: get("GET", url, headers))
        if status != 200:
            raise ReadError(f"container credentials endpoint: HTTP {status} {body[:200]}")
        return _credential_json(body, "the container credentials endpoint")
    if _imds_enabled(env):
        path = "/latest/meta-data/iam/security-credentials/"
        role = _imds(env, path, get).decode().split()
        if not role:
            raise ReadError("the instance has no IAM role")
        return _credential_json(_imds(env, path + role[0], get), "the instance profile")
    raise ReadError("no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or give the job a role")


def region(env=None, get=http_call) -> str:
    env = os.environ if env is None else env
    found = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not found and _imds_enabled(env):
        try:
            found = _imds(env, "/latest/meta-data/placement/region", get).decode().strip()
        except (ReadError, OSError):
            found = None
    return found or "us-east-1"


# --- SigV4 ----------------------------------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    """HMAC-SHA256 (RFC 2104) on the interpreter's own SHA-256."""
    key = key.ljust(64, b"\0")
    inner = sha256(bytes(b ^ 0x36 for b in key) + text.encode()).digest()
    return sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def sign(method, host, path, headers, creds, region_name, amz_date, service="s3", payload=EMPTY_SHA256):
    """Headers of a SigV4-signed request (every header given is signed; path already URI-encoded).

    https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
    """
    signed = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
    signed.update({"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload})
    if creds.get("token"):
        signed["x-amz-security-token"] = creds["token"]
    names = sorted(signed)
    canonical = "\n".join(
        [method, path, ""] + [f"{name}:{signed[name]}" for name in names] + ["", ";".join(names), payload]
    )
    scope = f"{amz_date[:8]}/{region_name}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + creds["secret"]).encode()
    for part in (amz_date[:8], region_name, service, "aws4_request"):
        key = _hmac(key, part)
    signature = _hmac(key, to_sign).hex()
    signed["authorization"] = "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}".format(
        creds["key"],
        scope,
        ";".join(names),
        signature,
    )
    return signed


class NotFound(Exception):
    pass


class S3:
    """Ranged S3 GETs over one kept-alive connection; counts requests and body bytes."""

    def __init__(self, env=None, get=http_call, creds=None, region_name=None):
        env = os.environ if env is None else env
        self.region = region_name or region(env, get)
        self.creds = creds or credentials(env, get)
        self.endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        self.requests = 0
        self.bytes_read = 0
        self._conn = None

    def _address(self, bucket, key):
        path = "/" + quote(key)
        if self.endpoint:
            scheme, _, rest = self.endpoint.partition("://")
            netloc, slash, base = rest.partition("/")
            return scheme, netloc, (slash + base).rstrip("/") + "/" + bucket + path
        suffix = ".amazonaws.com.cn" if self.region.startswith("cn-") else ".amazonaws.com"
        if "." in bucket:  # dotted names break virtual-hosted TLS
            return "https", "s3." + self.region + suffix, "/" + bucket + path
        return "https", bucket + ".s3." + self.region + suffix, path

    def _send(self, bucket, key, headers):
        scheme, netloc, path = self._address(bucket, key)
        if self._conn is None or not self._conn.usable or self._conn.target != (scheme, netloc):
            host, port = netloc, None
            if netloc.rsplit(":", 1)[-1].isdigit() and not netloc.endswith("]"):
                host, port = netloc.rsplit(":", 1)[0], int(netloc.rsplit(":", 1)[1])
            self._conn = Connection(scheme, host, port)
            self._conn.target = (scheme, netloc)
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        signed = sign("GET", netloc, path, headers, self.creds, self.region, amz_date)
        self.requests += 1
        try:
            return self._conn.request("GET", path, signed)
        except (OSError, ValueError):
            self._conn.close()
            raise OSError("S3 connection failed") from None

    def _open(self, bucket, key, headers):
        for attempt in range(ATTEMPTS):
            try:
                response = self._send(bucket, key, headers)
            except OSError as err:
                response, failure = None, str(err)
            if response is not None:
                if response.status < 300:
                    return response
                body = response.read()
                moved = response.headers.get("x-amz-bucket-region")
                if response.status == 404:
                    raise NotFound(f"s3://{bucket}/{key}")
                if response.status == 416:
                    raise ItemNotFoundError("range not satisfiable")
                if moved and moved != self.region and response.status in (301, 400):
                    self.region = moved  # the bucket is elsewhere: sign for its Region and retry once
                    continue
                failure = f"HTTP {response.status} {body[:300]!r}"
                if response.status < 500 and response.status != 429:
                    break
            if attempt + 1 < ATTEMPTS:
                _sleep(attempt)
        raise ReadError(f"GET s3://{bucket}/{key}: {failure}")

    def get_range(self, bucket, key, first, last) -> bytes:
        """Bytes ``first..last`` (inclusive) of an object; shorter at its end."""
        body = self._open(bucket, key, {"Range": f"bytes={first}-{last}"}).read()
        self.bytes_read += len(body)
        return body

    def lines(self, bucket, key):
        response = self._open(bucket, key, {})
        self._conn.usable = False  # the rest of the body is not read: never reuse this connection
        for line in response.lines():
            self.bytes_read += len(line)
            yield line


def split_uri(uri):
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme == "file":
        return "file", "", "/" + key
    if scheme != "s3" or not bucket or not key.lstrip("/"):
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return "s3", bucket, key.lstrip("/")


def _line_from(entry: bytes, read_line, index: int) -> str:
    if len(entry) < PAIR.size:
        raise ItemNotFoundError(f"the items object has no line {index}")
    start, end = PAIR.unpack(entry)
    line = read_line(start, end - 1)
    if end <= start or not line.endswith(b"\n"):
        raise ItemNotFoundError(f"the offset index does not match the batch at line {index}")
    return line[:-1].decode("utf-8")


def read_item(uri: str, index: int, s3=None) -> str:
    """The item JSON text at line ``index`` of an ``s3://`` or ``file://`` batch."""
    scheme, bucket, key = split_uri(uri)
    first, last = index * ENTRY.size, index * ENTRY.size + PAIR.size - 1
    if scheme == "file":
        if not os.path.exists(index_key(key)):
            with open(key, "rb") as handle:
                return nth_line(handle, index)
        with open(index_key(key), "rb") as idx, open(key, "rb") as data:
            idx.seek(first)

            def local(a, b):
                data.seek(a)
                return data.read(b - a + 1)

            return _line_from(idx.read(PAIR.size), local, index)
    s3 = S3() if s3 is None else s3
    try:
        entry = s3.get_range(bucket, index_key(key), first, last)
    except ItemNotFoundError:
        raise ItemNotFoundError(f"the items object has no line {index}") from None
    except NotFound:  # a batch written without an index: stream it up to the line
        try:
            return nth_line(s3.lines(bucket, key), index)
        except NotFound as err:
            raise ItemNotFoundError(f"{err} does not exist") from None
    return _line_from(entry, lambda a, b: s3.get_range(bucket, key, a, b), index)


def main(argv=None, exec_fn=os.execvp, s3=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[1] != "--":
        print(USAGE, file=sys.stderr)
        return 64
    uri, command = args[0], args[2:]
    try:
        item = read_item(uri, array_index(), s3)
    except (ItemNotFoundError, NotFound, ValueError, OSError) as err:
        print(f"fanout_item: {err}", file=sys.stderr)
        return 66
    except ReadError as err:
        print(f"fanout_item: {err}", file=sys.stderr)
        return 75
    sys.stdout.flush()
    try:
        exec_fn(command[0], [*command, item])
    except FileNotFoundError:
        print(f"fanout_item: command not found: {command[0]}", file=sys.stderr)
        return 127
    return 0  # only reached when exec_fn returns (tests)


if __name__ == "__main__":
    sys.exit(main())
