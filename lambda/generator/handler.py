"""Generator Lambda: validate the execution input and produce the items to fan out.

Invoked by the state machine with ``{"input": <execution input>, "execution_name": <name>}``.

Execution input (documented in README): exactly one of

* ``{"items": [<any JSON value>, ...]}`` — the items themselves;
* ``{"count": N, "template": {...}}`` — N items, item i = template merged with ``{"index": i}``
  (``template`` optional, an object without an ``index`` key).

Environment (set by Terraform): FANOUT_MODE (inline | array | distributed | distributed_array),
FANOUT_BUCKET (S3 modes), FANOUT_ITEMS_PER_BATCH, FANOUT_MAX_ITEMS (optional extra ceiling),
FANOUT_LIMITS (JSON of terraform/aws_limits.json), FANOUT_MODES (JSON list of the mode names of
terraform/contract.json, cheapest first), FANOUT_RUNS_PREFIX (default ``runs/``).

Returns, by mode: inline ``{"mode","count","items"}``; array ``{"mode","count","batches":[{"batch",
"items_uri","size"}]}``; distributed* ``{"mode","count","batch_count","manifest":{"bucket","key"}}``
(the Distributed Map's ResultWriter writes under ``<runs_prefix>results/<map run id>/``).
Bad input raises :class:`InvalidInputError` / :class:`TooManyItemsError`; Step Functions reports
the class name as the error and the message as the cause.

Observability (Powertools for AWS Lambda, vendored in the zip from ``requirements.txt``): one JSON log
line per invocation on stdout, which Lambda sends to the function's log group, with the keys ``mode``,
``execution_name``, ``item_count``, ``batch_count`` (S3 modes), ``duration_ms``, and for a rejected input
``error`` (the class name Step Functions reports) and ``cause``. With active tracing the handler's X-Ray
subsegment carries the annotations ``mode`` and ``item_count``; S3 calls appear as subsegments.
https://docs.powertools.aws.dev/lambda/python/latest/core/logger/
https://docs.powertools.aws.dev/lambda/python/latest/core/tracer/

S3 objects (under ``<runs_prefix><execution name>/``): ``items/batch-000000.jsonl`` (array modes: one
item per line, line i = array index i) and ``manifest.json`` (distributed modes: a JSON array of batch
rows, ``{"batch","first_index","items"}`` or ``{"batch","items_uri","size"}``). Everything is streamed:
at most one batch and one 8 MiB upload part are in memory.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import capacity
from aws_lambda_powertools import Logger, Tracer

MIN_PART_BYTES = 5 * 1024 * 1024  # S3 multipart minimum (all parts but the last)
PART_BYTES = 8 * 1024 * 1024
_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# An item as the job receives it: States.JsonToString's text. Whether AWS writes non-ASCII characters
# raw or \u-escaped is not documented
# (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-json-manipulate);
# the sandbox escapes them. The escaped form is never shorter than the raw UTF-8 bytes, so an item
# whose escaped form fits fits either way. NaN/Infinity are not JSON: refused, not encoded.
_JOB_TEXT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode
SERVICE = "fanout-generator"

# Tracing is off outside Lambda (no LAMBDA_TASK_ROOT: tests, the tooling, the sandbox); in Lambda only
# botocore is patched, the one library the handler calls through.
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))


class RejectedInputError(Exception):
    """The caller's input cannot be run as asked; the subclass name is the error Step Functions shows."""


class InvalidInputError(RejectedInputError):
    """The execution input is not one of the documented shapes."""


class TooManyItemsError(RejectedInputError):
    """The request exceeds what the deployed fan-out mode can handle under AWS limits."""


class GeneratorConfigError(Exception):
    """The function's environment is wrong (a deployment problem, not the caller's)."""


@dataclass(frozen=True)
class Settings:
    mode: str
    bucket: str
    items_per_batch: int
    max_items: int | None
    limits: dict[str, Any]
    runs_prefix: str
    modes: tuple[str, ...]  # every fan-out mode, cheapest first (the contract's order)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        mode = env.get("FANOUT_MODE", "inline")
        try:
            modes = tuple(json.loads(env["FANOUT_MODES"]))
        except (KeyError, ValueError, TypeError) as err:
            raise GeneratorConfigError(f"bad or missing environment FANOUT_MODES: {err}") from None
        if mode not in modes:
            raise GeneratorConfigError(f"FANOUT_MODE={mode!r}; expected one of {', '.join(modes)}")
        try:
            limits = json.loads(env["FANOUT_LIMITS"])
            per_batch = int(env.get("FANOUT_ITEMS_PER_BATCH", "1000"))
            max_items = int(env["FANOUT_MAX_ITEMS"]) if env.get("FANOUT_MAX_ITEMS") else None
        except (KeyError, ValueError) as err:
            raise GeneratorConfigError(f"bad or missing environment: {err}") from None
        bucket = env.get("FANOUT_BUCKET", "")
        if mode != "inline" and not bucket:
            raise GeneratorConfigError(f"FANOUT_BUCKET is required in {mode} mode")
        if not 1 <= per_batch <= int(limits["batch_array_size_max"]):
            raise GeneratorConfigError(
                f"FANOUT_ITEMS_PER_BATCH={per_batch} must be 1..{limits['batch_array_size_max']}"
            )
        prefix = env.get("FANOUT_RUNS_PREFIX", "runs/")
        return cls(mode, bucket, per_batch, max_items, limits, prefix, modes)


@dataclass
class Request:
    """A validated request: ``count`` items, produced lazily by :meth:`items`."""

    count: int
    explicit: list[Any] | None
    template_json: str | None  # serialized template without the closing brace, for fast item encoding
    rerun_of: str | None = None  # the execution whose failed items these are
    from_failed_items: bool = False  # the items are that execution's failed-items list in S3

    def encoded(self) -> Iterator[str]:
        """Each item as compact JSON text, in order, produced lazily."""
        if self.explicit is not None:
            for item in self.explicit:
                yield _DUMPS(item)
            return
        head = self.template_json
        if head is None:
            for i in range(self.count):
                yield f'{{"index":{i}}}'
        else:
            for i in range(self.count):
                yield f'{head},"index":{i}}}'


# capture_response=False: an inline result is up to 256 KiB, over X-Ray's 64 KB segment document limit
# (https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html).
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: :func:`generate`, with one structured log line saying how it went."""
    started = time.perf_counter()
    if isinstance(event, dict) and "summarize" in event:
        return _summarize(event["summarize"], started)
    execution = event.get("execution_name") if isinstance(event, dict) else None
    logger.append_keys(execution_name=execution if isinstance(execution, str) else None)
    try:
        result = generate(event)
    except RejectedInputError as err:
        logger.warning("execution input rejected", extra=_failure(err, started))
        raise
    except GeneratorConfigError as err:
        logger.error("generator environment is wrong", extra=_failure(err, started))
        raise
    except Exception as err:
        logger.exception("generating the work items failed", extra=_failure(err, started))
        raise
    batches = result.get("batch_count", len(result.get("batches", ())) or None)  # inline: no batches
    logger.info("work items generated", extra={"batch_count": batches, "duration_ms": _elapsed_ms(started)})
    return result


def _summarize(request: Any, started: float) -> dict[str, Any]:
    """The summarize action (:mod:`summary`), with one structured log line saying how the run went."""
    import boto3
    import summary

    if not isinstance(request, dict) or "execution_name" not in request or "count" not in request:
        raise GeneratorConfigError(
            "the summarize payload must be an object with execution_name and count; "
            "the state machine's SummarizeItems state passes them"
        )
    settings = Settings.from_env()
    logger.append_keys(mode=settings.mode, execution_name=request.get("execution_name"))
    try:
        result = summary.summarize(
            request,
            settings.mode,
            settings.items_per_batch,
            settings.bucket,
            settings.runs_prefix,
            boto3.client,
        )
    except Exception as err:
        logger.exception("summarizing the run failed", extra=_failure(err, started))
        raise
    logger.info(
        "items summarized",
        extra={
            "item_count": result["count"],
            "failed_count": result["failed"],
            "outcome": result["outcome"],
            "duration_ms": _elapsed_ms(started),
        },
    )
    return result


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _failure(err: Exception, started: float) -> dict[str, Any]:
    return {"error": type(err).__name__, "cause": str(err), "duration_ms": _elapsed_ms(started)}


def generate(event: dict[str, Any]) -> dict[str, Any]:
    """Validate the payload and produce the mode's result; ``mode`` and ``item_count`` are added to the
    log keys and the trace annotations as soon as they are known."""
    settings = Settings.from_env()
    logger.append_keys(mode=settings.mode)
    tracer.put_annotation(key="mode", value=settings.mode)
    if not isinstance(event, dict):
        raise InvalidInputError(
            "the Lambda payload must be an object {input, execution_name}. "
            "Invoke the generator through the state machine, which passes both."
        )
    request = validate_execution_input(event.get("input"), settings)
    if request.from_failed_items:
        request = _failed_items_request(request, settings)
    logger.append_keys(item_count=request.count)
    tracer.put_annotation(key="item_count", value=request.count)
    if settings.mode == "inline":
        return inline_result(request, settings)
    execution = event.get("execution_name")
    if not isinstance(execution, str) or not _EXECUTION_NAME.match(execution):
        raise InvalidInputError(
            f"execution_name {execution!r} is missing or unusable in an S3 key; "
            "the state machine passes $$.Execution.Name (letters, digits, _ . : -)"
        )
    import boto3

    s3 = boto3.client("s3")
    run_prefix = f"{settings.runs_prefix}{execution}/"
    if settings.mode == "array":
        return array_result(request, settings, s3, run_prefix)
    if settings.mode == "distributed":
        return distributed_result(request, settings, s3, run_prefix)
    return distributed_array_result(request, settings, s3, run_prefix)


def _failed_items_request(request: Request, settings: Settings) -> Request:
    """The items of ``{"rerun_of": name}``: that run's failed-items list (written by its SummarizeItems)."""
    import boto3
    import summary

    key = f"{settings.runs_prefix}{request.rerun_of}/{summary.FAILED_ITEMS_FILE}"
    s3 = boto3.client("s3")
    try:
        body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        raise InvalidInputError(
            f"execution {request.rerun_of!r} has no failed-items list (s3://{settings.bucket}/{key}): "
            "either none of its items failed or it did not finish. Check it with `fanout status`."
        ) from None
    items = [json.loads(line)["item"] for line in body.iter_lines() if line.strip()]
    if not items:
        raise InvalidInputError(f"execution {request.rerun_of!r} has no failed items to rerun.")
    _check_count(len(items), _ceiling(settings), settings)
    return Request(len(items), items, None, request.rerun_of)


def validate_execution_input(data: Any, settings: Settings, text: str | None = None) -> Request:
    """THE validation of an execution input, shared by the generator and ``fanout run``'s pre-check.

    ``text`` is the input as StartExecution would send it (the CLI passes it; in the Lambda, Step
    Functions has already accepted it): its UTF-8 bytes must fit ``sfn_payload_bytes``
    (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html). Then the shape and
    capacity (:func:`parse_input`) and, in inline mode, the generator's own output budget.
    Raises InvalidInputError / TooManyItemsError with what to do.
    """
    limit = int(settings.limits["sfn_payload_bytes"])
    if text is not None:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as err:
            raise InvalidInputError(
                f"the execution input holds {text[err.start : err.end]!r}, an unpaired UTF-16 surrogate that "
                "is not a character and has no UTF-8 form. Remove it (or pair it) and start again."
            ) from None
        if size > limit:
            raise InvalidInputError(
                f"the execution input is {size:,} bytes; Step Functions accepts at most {limit:,} "
                '(sfn_payload_bytes). Pass fewer items, or use {"count": N, "template": {...}}, '
                "or keep the data in S3 and pass its URIs as the items."
            )
    try:
        request = parse_input(data, settings)
        if settings.mode == "inline":
            inline_result(request, settings)  # the output budget the execution would hit
    except RecursionError:
        raise InvalidInputError(
            "the execution input nests too deeply to be encoded. Flatten the items "
            "(or keep the data in S3 and pass its URIs as the items)."
        ) from None
    return request


def parse_input(data: Any, settings: Settings) -> Request:
    """Validate the execution input; raises InvalidInputError / TooManyItemsError with what to do."""
    shape = 'Start the execution with {"items": [...]} or {"count": N, "template": {...}}.'
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"the execution input must be a JSON object, got {type(data).__name__}. {shape}"
        )
    unknown = sorted(set(data) - {"items", "count", "template", "rerun_of"})
    if unknown:
        raise InvalidInputError(f"unknown input field(s) {', '.join(map(_name, unknown))}. {shape}")
    rerun_of = data.get("rerun_of")
    if "rerun_of" in data and (not isinstance(rerun_of, str) or not _EXECUTION_NAME.match(rerun_of)):
        raise InvalidInputError(
            f"'rerun_of' must be the name of an execution of this state machine, got {_shown(rerun_of)}. "
            "`fanout rerun-failed EXECUTION` sets it."
        )
    if rerun_of and "items" not in data and "count" not in data:
        if settings.mode == "inline":
            raise InvalidInputError(
                'in inline mode a rerun passes its items: {"items": [...], "rerun_of": "<execution>"}. '
                "`fanout rerun-failed EXECUTION` builds it."
            )
        return Request(0, None, None, rerun_of, from_failed_items=True)
    return _with_rerun(_parse_items(data, settings, shape), rerun_of)


def _with_rerun(request: Request, rerun_of: str | None) -> Request:
    request.rerun_of = rerun_of
    return request


def _parse_items(data: dict[str, Any], settings: Settings, shape: str) -> Request:
    if ("items" in data) == ("count" in data):
        raise InvalidInputError(f"give exactly one of 'items' or 'count'. {shape}")
    ceiling = _ceiling(settings)
    if "items" in data:
        items = data["items"]
        if "template" in data:
            raise InvalidInputError(
                "'template' only applies with 'count'; with 'items' pass each item in full."
            )
        if not isinstance(items, list) or not items:
            raise InvalidInputError(f"'items' must be a non-empty JSON array. {shape}")
        _check_count(len(items), ceiling, settings)
        request = Request(len(items), items, None)
        limit = capacity.max_item_bytes(settings.limits)
        for index, item in enumerate(items):
            text = _job_text(item, f"item {index}")
            if settings.mode in ("inline", "distributed"):
                size = len(text)
                if size > limit:
                    raise InvalidInputError(
                        f"item {index} is {size:,} bytes; a Batch SubmitJob request carries at most "
                        f"{limit:,} bytes of item in {settings.mode} mode. "
                        "Store large data in S3 and pass its URI as the item."
                    )
        return request
    count = data["count"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInputError(
            f"'count' must be a positive integer, got {_shown(count)}. "
            'Start the execution with {"count": N} where N >= 1 is the number of items to fan out.'
        )
    template = data.get("template", {})
    if not isinstance(template, dict):
        raise InvalidInputError(
            f"'template' must be a JSON object, got {type(template).__name__}. "
            'Pass the fields every item shares, e.g. {"count": 3, "template": {"size": "L"}}.'
        )
    if "index" in template:
        raise InvalidInputError(
            "'template' must not contain 'index': each item gets its own index. "
            "Remove 'index' from the template (or rename the field)."
        )
    _check_count(count, ceiling, settings)
    head = _DUMPS(template)[:-1] if template else None
    request = Request(count, None, head)
    text = _job_text({**template, "index": count}, "'template'")
    if settings.mode in ("inline", "distributed"):
        size = len(text)
        limit = capacity.max_item_bytes(settings.limits)
        if size > limit:
            raise InvalidInputError(
                f"each item is about {size:,} bytes; a Batch SubmitJob request carries at most "
                f"{limit:,} bytes of item. Make the template smaller (put large data in S3 and pass its URI)."
            )
    return request


def _name(key: str) -> str:
    """A field name for a one-line message: as is when plain, else quoted and shortened."""
    return key if key.isidentifier() else _shown(key)


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _job_text(value: Any, what: str) -> str:
    """``value`` as the job receives it (see ``_JOB_TEXT``); refuses what has no JSON text."""
    try:
        return _JOB_TEXT(value)
    except ValueError:
        raise InvalidInputError(
            f"{what} holds NaN or Infinity, which JSON cannot carry to a job. "
            "Replace it with a number, null, or a string."
        ) from None


def _ceiling(settings: Settings) -> capacity.Capacity:
    cap = capacity.capacity(settings.mode, settings.limits, items_per_batch=settings.items_per_batch)
    if settings.max_items is not None and settings.max_items < cap.max_items:
        return capacity.Capacity(
            settings.mode, settings.max_items, "FANOUT_MAX_ITEMS", "the deployment's ceiling"
        )
    return cap


def _check_count(count: int, ceiling: capacity.Capacity, settings: Settings) -> None:
    if count <= ceiling.max_items:
        return
    fits = [
        m
        for m in capacity.modes_that_fit(
            count, settings.limits, settings.modes, items_per_batch=settings.items_per_batch
        )
        if m != settings.mode
    ]
    advice = f'Redeploy with fanout_mode = "{fits[0]}"' if fits else "Split the work into several executions"
    raise TooManyItemsError(
        f"{count:,} items exceed what {settings.mode} mode handles: at most {ceiling.max_items:,} "
        f"({ceiling.binding_limit}: {ceiling.detail}). {advice}, which fits {count:,} items."
    )


def inline_result(request: Request, settings: Settings) -> dict[str, Any]:
    items = request.explicit
    if items is None:
        items = [json.loads(text) for text in request.encoded()]
    result = {"mode": "inline", "count": request.count, "items": items, "rerun_of": request.rerun_of}
    size = len(_DUMPS(result).encode())
    budget = int(settings.limits["sfn_payload_bytes"]) - capacity.PAYLOAD_MARGIN_BYTES
    if size > budget:
        fits = ", ".join(m for m in settings.modes if m != "inline")
        raise TooManyItemsError(
            f"the {request.count:,} items take {size:,} bytes, over the {budget:,}-byte Step Functions "
            "payload budget for inline mode (sfn_payload_bytes). Use fewer or smaller items, "
            f"or redeploy with fanout_mode = one of {fits}, which keep items in S3."
        )
    return result


def array_result(request: Request, settings: Settings, s3: Any, run_prefix: str) -> dict[str, Any]:
    batches = [
        {"batch": k, "items_uri": f"s3://{settings.bucket}/{key}", "size": size}
        for k, key, size in write_jsonl_batches(request.encoded(), settings, s3, run_prefix)
    ]
    result = {"mode": "array", "count": request.count, "batches": batches, "rerun_of": request.rerun_of}
    size = len(_DUMPS(result).encode())
    budget = int(settings.limits["sfn_payload_bytes"]) - capacity.PAYLOAD_MARGIN_BYTES
    if size > budget:
        raise TooManyItemsError(
            f"{len(batches):,} batches take {size:,} bytes of output, over the {budget:,}-byte "
            "Step Functions payload budget (sfn_payload_bytes). Raise items_per_batch or redeploy with "
            'fanout_mode = "distributed_array".'
        )
    return result


def distributed_result(request: Request, settings: Settings, s3: Any, run_prefix: str) -> dict[str, Any]:
    max_items, max_bytes = capacity.distributed_batch_bounds(settings.limits, settings.items_per_batch)
    key = f"{run_prefix}manifest.json"
    count = 0
    with S3StreamWriter(s3, settings.bucket, key, content_type="application/json") as out:
        out.write(b"[")
        for k, (first, texts) in enumerate(_batches_by_size(request.encoded(), max_items, max_bytes)):
            sep = "," if k else ""
            row = f'{sep}{{"batch":{k},"first_index":{first},"items":[{",".join(texts)}]}}'
            out.write(row.encode())
            count = k + 1
        out.write(b"]")
    return _manifest_result(settings, request, count, key)


def distributed_array_result(
    request: Request, settings: Settings, s3: Any, run_prefix: str
) -> dict[str, Any]:
    key = f"{run_prefix}manifest.json"
    count = 0
    with S3StreamWriter(s3, settings.bucket, key, content_type="application/json") as out:
        out.write(b"[")
        for k, batch_key, size in write_jsonl_batches(request.encoded(), settings, s3, run_prefix):
            row = {"batch": k, "items_uri": f"s3://{settings.bucket}/{batch_key}", "size": size}
            out.write((b"," if k else b"") + _DUMPS(row).encode())
            count = k + 1
        out.write(b"]")
    return _manifest_result(settings, request, count, key)


def _manifest_result(settings: Settings, request: Request, batches: int, key: str) -> dict[str, Any]:
    return {
        "mode": settings.mode,
        "count": request.count,
        "batch_count": batches,
        "manifest": {"bucket": settings.bucket, "key": key},
        "rerun_of": request.rerun_of,
    }


def write_jsonl_batches(
    encoded: Iterable[str], settings: Settings, s3: Any, run_prefix: str
) -> Iterator[tuple[int, str, int]]:
    """Write JSONL objects of at most items_per_batch lines, each with its offset index (``batches``);
    yields (batch, key, size) once both are written."""
    import batches

    per_batch = min(settings.items_per_batch, int(settings.limits["batch_array_size_max"]))
    iterator = iter(encoded)
    k = 0
    while True:
        first = next(iterator, None)
        if first is None:
            return
        key = f"{run_prefix}items/batch-{k:06d}.jsonl"
        size = 0
        index = batches.OffsetIndex()
        with S3StreamWriter(s3, settings.bucket, key, content_type="application/x-ndjson") as out:
            text: str | None = first
            while text is not None:
                line = text.encode() + b"\n"
                out.write(line)
                index.add(len(line))
                size += 1
                if size == per_batch:
                    break
                text = next(iterator, None)
        s3.put_object(
            Bucket=settings.bucket,
            Key=batches.index_key(key),
            Body=index.to_bytes(),
            ContentType=batches.CONTENT_TYPE,
        )
        yield k, key, size
        k += 1


def _batches_by_size(
    encoded: Iterable[str], max_items: int, max_bytes: int
) -> Iterator[tuple[int, list[str]]]:
    """Group items into (first_index, [item texts]) by count and by bytes (a batch object < max_bytes)."""
    envelope = len('{"batch":123456789,"first_index":1234567890,"items":[]}')
    batch: list[str] = []
    size = envelope
    first = 0
    for index, text in enumerate(encoded):
        added = len(text.encode()) + 1
        if batch and (len(batch) >= max_items or size + added > max_bytes):
            yield first, batch
            batch, size, first = [], envelope, index
        batch.append(text)
        size += added
    if batch:
        yield first, batch


class S3StreamWriter:
    """Write one S3 object from a stream of bytes: a single PutObject if it stays under one part,
    else a multipart upload with parts of PART_BYTES (>= 5 MiB except the last). Aborts on error."""

    def __init__(
        self, s3: Any, bucket: str, key: str, content_type: str, part_bytes: int = PART_BYTES
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"S3 parts must be at least {MIN_PART_BYTES} bytes")
        self.s3, self.bucket, self.key, self.content_type = s3, bucket, key, content_type
        self.part_bytes = part_bytes
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def __enter__(self) -> S3StreamWriter:
        return self

    def write(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= self.part_bytes:
            self._upload_part(bytes(self.buffer[: self.part_bytes]))
            del self.buffer[: self.part_bytes]

    def _upload_part(self, body: bytes) -> None:
        if self.upload_id is None:
            created = self.s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        response = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            if self.upload_id is not None:
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            return
        if self.upload_id is None:
            self.s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer), ContentType=self.content_type
            )
            return
        if self.buffer:
            self._upload_part(bytes(self.buffer))
            self.buffer.clear()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )
