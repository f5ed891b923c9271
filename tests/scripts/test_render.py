"""Renderer: every pair of option values renders valid ASL, the item reaches the job, files are fresh."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess

import pytest
from allpairspy import AllPairs
from fanout_tools import asl_validate, render
from fanout_tools.cli import main
from fanout_tools.errors import ConfigError

SENTINEL_VALUES = render.sentinel_strings()


def concrete(mode: str, **numbers) -> dict:
    template = render.render_template(mode)
    text = render.render_concrete(mode, {**SENTINEL_VALUES, **numbers}, template)
    return asl_validate.validate(template, text, render.SENTINELS)


def test_committed_templates_are_fresh():
    assert main(["render", "--check"]) == 0, "run `fanout render` and commit terraform/.../definitions"


def test_check_detects_a_stale_file(tmp_path, monkeypatch, capsys):
    shutil.copytree(render.definitions_dir(), tmp_path / "definitions")
    monkeypatch.setattr(render, "definitions_dir", lambda: tmp_path / "definitions")
    (tmp_path / "definitions" / "array.asl.json.tftpl").write_text("{}\n")
    assert main(["render", "--check"]) == 1
    err = capsys.readouterr().err
    assert "stale:" in err and "array.asl.json.tftpl" in err and "inline.asl.json.tftpl" not in err
    assert main(["render"]) == 0
    assert main(["render", "--check"]) == 0


# Every numeric setting at its bounds (and middle values of the failure tolerance), in every pair of
# values of any two settings, the mode included (allpairspy): each check below reads one setting, and a
# clash between two settings shows in a pair. 17 renders instead of all 160 combinations (each render
# is validated by moto's parser, statelint and AWS's language service). The tolerance only varies where
# the Map state takes it (the Distributed Map modes).
def _pairwise(modes: tuple[str, ...], tolerated: tuple[float, ...]) -> list[list[object]]:
    factors = [list(modes), ["min", "max"], [0, 8], [60, 31_536_000], list(tolerated), [1, 2.5]]
    return [list(row) for row in AllPairs(factors)]


COMBINATIONS = [
    pytest.param(*row, id="{}-c{}-r{}-t{}-f{}-b{}".format(*row))
    for row in _pairwise(render.DISTRIBUTED_MODES, (0, 5, 13, 100))
    + _pairwise(tuple(m for m in render.MODES if m not in render.DISTRIBUTED_MODES), (0,))
]


def test_the_combinations_hold_every_pair_of_values() -> None:
    """What the pairwise choice promises: among the Distributed Map modes, and among the others, every
    value of each setting (the mode too) appears beside every value of every other setting."""
    rows = [tuple(p.values) for p in COMBINATIONS]
    for group in (
        render.DISTRIBUTED_MODES,
        tuple(m for m in render.MODES if m not in render.DISTRIBUTED_MODES),
    ):
        mine = [row for row in rows if row[0] in group]
        values = [{row[i] for row in mine} for i in range(6)]
        assert values[0] == set(group)
        assert len(values[4]) == (4 if group == render.DISTRIBUTED_MODES else 1)
        for i, j in itertools.combinations(range(6), 2):
            assert {(row[i], row[j]) for row in mine} == set(itertools.product(values[i], values[j]))


@pytest.mark.parametrize(("mode", "conc", "attempts", "timeout", "tolerated", "backoff"), COMBINATIONS)
def test_every_option_combination_renders_valid_asl(mode, conc, attempts, timeout, tolerated, backoff):
    ceiling = 10_000 if mode in render.DISTRIBUTED_MODES else 40
    definition = concrete(
        mode,
        max_concurrency=1 if conc == "min" else ceiling,
        batch_api_retry_max_attempts=attempts,
        execution_timeout_seconds=timeout,
        tolerated_failure_percentage=tolerated,
        batch_api_retry_backoff_rate=backoff,
        batch_api_retry_interval_seconds=1,
        batch_api_retry_max_delay_seconds=31_622_400,
    )
    assert definition["TimeoutSeconds"] == timeout
    fan_out = definition["States"]["FanOut"]
    assert fan_out["MaxConcurrency"] == (1 if conc == "min" else ceiling)
    # The item threshold goes to SummarizeItems in every mode; a Distributed Map tolerates every failed
    # child (it counts batches, not items), so every item is attempted.
    summarize = definition["States"]["SummarizeItems"]["Parameters"]["Payload"]["summarize"]
    assert summarize["tolerated_failure_percentage"] == tolerated
    assert summarize["tolerated_failure_count"] == 0
    if mode in render.DISTRIBUTED_MODES:
        assert fan_out["ToleratedFailurePercentage"] == 100
    for task in tasks(definition, "batch:submitJob.sync"):
        (retrier,) = task["Retry"]
        assert retrier["MaxAttempts"] == attempts and retrier["BackoffRate"] == float(backoff)
        assert retrier["JitterStrategy"] == "FULL"


@pytest.mark.parametrize("inner", [1, 40])
def test_inner_concurrency_option_renders_valid_distributed_asl(inner):
    template = render.render_template("distributed", inner_max_concurrency=inner)
    text = render.render_concrete("distributed", {**SENTINEL_VALUES}, template)
    definition = asl_validate.validate(template, text, render.SENTINELS)
    child = definition["States"]["FanOut"]["ItemProcessor"]["States"]["FanOutBatch"]
    assert child["MaxConcurrency"] == inner


def states(node: dict):
    for name, state in node.get("States", {}).items():
        yield name, state
        if "ItemProcessor" in state:
            yield from states(state["ItemProcessor"])


def tasks(definition: dict, integration: str) -> list[dict]:
    return [s for _, s in states(definition) if s.get("Resource", "").endswith(f":states:::{integration}")]


@pytest.mark.parametrize("mode", render.MODES)
def test_every_mode_has_the_promised_structure(mode):
    definition = concrete(mode)
    generator, summarize = tasks(definition, "lambda:invoke")
    assert generator["Parameters"]["Payload"] == {"input.$": "$", "execution_name.$": "$$.Execution.Name"}
    # after the fan-out, the same function summarizes: every item attempted, then the threshold
    assert summarize is definition["States"]["SummarizeItems"]
    assert summarize["Parameters"]["FunctionName"] == generator["Parameters"]["FunctionName"]
    assert summarize["OutputPath"] == "$.summary" and summarize["Next"] == "CheckTolerance"
    assert definition["States"]["ItemsFailed"] == {
        "Type": "Fail",
        "Comment": definition["States"]["ItemsFailed"]["Comment"],
        "Error": "ItemsFailed",
        "CausePath": "$.cause",
    }
    assert definition["States"]["FanOut"]["Next"] == "SummarizeItems"
    assert generator["OutputPath"] == "$.generated"
    (lambda_retry,) = generator["Retry"]
    assert "Lambda.ServiceException" in lambda_retry["ErrorEquals"]
    assert not {"InvalidInputError", "TooManyItemsError", "States.ALL"} & set(lambda_retry["ErrorEquals"])
    assert generator["Catch"][0]["ErrorEquals"] == ["InvalidInputError", "TooManyItemsError"]
    assert definition["States"]["RejectedInput"]["CausePath"] == "$.details.errorMessage"
    jobs = tasks(definition, "batch:submitJob.sync")
    assert jobs
    for job in jobs:
        params = job["Parameters"]
        assert params["JobQueue"] == SENTINEL_VALUES["job_queue_arn"]
        assert params["JobDefinition"] == SENTINEL_VALUES["job_definition_name"]  # a name: IAM uses name:*
        assert params["JobName.$"].startswith("States.Format('sm-sentinel-")
        assert set(job["ResultSelector"]) == {"JobId.$", "JobName.$", "Status.$"}
        assert set(job["Retry"][0]["ErrorEquals"]) == {
            "Batch.AWSBatchException",
            "Batch.ServerException",
            "Batch.TooManyRequestsException",
        }
    fan_out = definition["States"]["FanOut"]
    assert "Iterator" not in fan_out and "Parameters" not in fan_out  # current names only
    if mode in render.DISTRIBUTED_MODES:
        assert fan_out["ItemProcessor"]["ProcessorConfig"] == {
            "Mode": "DISTRIBUTED",
            "ExecutionType": "STANDARD",
        }
        assert fan_out["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
        assert fan_out["ItemReader"]["Parameters"] == {"Bucket": "bucket-sentinel", "Key.$": "$.manifest.key"}
        assert fan_out["ResultWriter"]["Parameters"] == {
            "Bucket": "bucket-sentinel",
            "Prefix": "runs/results",
        }
        assert fan_out["Label"] == "FanOut"


@pytest.mark.parametrize("mode", ["inline", "distributed"])
def test_the_item_value_reaches_the_job(mode):
    """Follow the item from the Map's iteration value to the Batch job's parameters (Ref::item)."""
    definition = concrete(mode)
    fan_out = definition["States"]["FanOut"]
    per_item_map = fan_out
    if mode == "distributed":
        # manifest row -> child input {"items": row.items, ...} -> inner Map over $.items
        assert fan_out["ItemSelector"]["items.$"] == "$$.Map.Item.Value.items"
        per_item_map = fan_out["ItemProcessor"]["States"]["FanOutBatch"]
        assert per_item_map["ItemsPath"] == "$.items"
        assert per_item_map["ItemSelector"]["index.$"] == "States.MathAdd($.first_index, $$.Map.Item.Index)"
    else:
        assert per_item_map["ItemsPath"] == "$.items"  # the generator's {"items": [...]}
    assert per_item_map["ItemSelector"]["item.$"] == "$$.Map.Item.Value"
    job = per_item_map["ItemProcessor"]["States"]["SubmitItemJob"]
    # a failed job is caught in its iteration (every other item still runs) and becomes a record
    assert [c["Next"] for c in job["Catch"]] == ["ReadItemFailedJob", "ItemNotRun"]
    assert job["Catch"][0]["ErrorEquals"] == ["States.TaskFailed"]
    assert job["Parameters"]["Parameters"] == {
        "item.$": "States.JsonToString($.item)",  # Batch parameters are strings: the item as JSON text
        "index.$": "States.Format('{}', $.index)",
    }


@pytest.mark.parametrize("mode", ["array", "distributed_array"])
def test_the_batch_uri_reaches_the_array_job_and_size_one_is_a_plain_job(mode):
    definition = concrete(mode)
    fan_out = definition["States"]["FanOut"]
    if mode == "array":
        assert fan_out["ItemsPath"] == "$.batches"
    assert fan_out["ItemSelector"] == {
        "batch.$": "$$.Map.Item.Value.batch",
        "items_uri.$": "$$.Map.Item.Value.items_uri",
        "size.$": "$$.Map.Item.Value.size",
    }
    processor = fan_out["ItemProcessor"]["States"]
    choice = processor["ArrayOrSingleJob"]
    assert choice["Choices"] == [{"Variable": "$.size", "NumericGreaterThan": 1, "Next": "SubmitArrayJob"}]
    assert choice["Default"] == "SubmitSingleJob"
    assert processor["SubmitArrayJob"]["Parameters"]["ArrayProperties"] == {"Size.$": "$.size"}
    assert "ArrayProperties" not in processor["SubmitSingleJob"]["Parameters"]
    for name in ("SubmitArrayJob", "SubmitSingleJob"):
        assert processor[name]["Parameters"]["Parameters"]["items_uri.$"] == "$.items_uri"


def test_terraform_templatefile_renders_exactly_what_the_tool_renders(tmp_path):
    """The .tftpl is only useful if Terraform reads it the same way: compare with real terraform."""
    from fanout_tools.tf import terraform_binary, terraform_env

    values = {
        **SENTINEL_VALUES,
        **render.DEFAULT_NUMBERS,
        "tolerated_failure_percentage": 5,
        "batch_api_retry_backoff_rate": 2,
    }
    hcl_values = ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
    outputs = []
    for mode in render.MODES:
        for kind in ("asl", "policy"):
            path = render.definitions_dir() / f"{mode}.{kind}.json.tftpl"
            outputs.append(
                f'output "{mode}_{kind}" {{\n  value = templatefile("{path}", {{ {hcl_values} }})\n}}\n'
            )
    (tmp_path / "main.tf").write_text("".join(outputs))
    env = terraform_env({"TF_DATA_DIR": str(tmp_path / ".terraform")})
    binary = terraform_binary()
    subprocess.run(
        [binary, "apply", "-auto-approve", "-input=false", "-no-color"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    got = json.loads(
        subprocess.run(
            [binary, "output", "-json"], cwd=tmp_path, env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    for mode in render.MODES:
        ours = render.render_concrete(mode, values)
        assert got[f"{mode}_asl"]["value"] == ours
        assert (
            json.loads(got[f"{mode}_asl"]["value"])["States"]["GenerateItems"]["Resource"]
            == "arn:aws-sentinel:states:::lambda:invoke"
        )
        policy = json.loads(got[f"{mode}_policy"]["value"])
        assert policy["Statement"][0]["Resource"] == [SENTINEL_VALUES["generator_function_arn"]]


@pytest.mark.parametrize(
    ("mode", "name", "value", "words"),
    [
        ("inline", "max_concurrency", 41, "out of range 1..40"),
        ("array", "max_concurrency", 0, "out of range"),
        ("distributed", "max_concurrency", 10_001, "out of range 1..10000"),
        ("distributed", "tolerated_failure_percentage", 101, "out of range 0..100"),
        ("distributed", "tolerated_failure_percentage", 12.5, "is not an integer"),
        ("inline", "execution_timeout_seconds", 10, "out of range 60.."),
        ("inline", "batch_api_retry_backoff_rate", 0.5, "out of range 1.."),
        ("inline", "batch_api_retry_max_attempts", "three", "is not an integer"),
        ("inline", "items_per_batch", 10_001, "out of range 1..10000"),
        ("inline", "job_queue_arn", "my-queue", "is not an ARN"),
        ("inline", "job_definition_name", 'bad"name', "contains quotes"),
        ("array", "bucket_name", "", "bucket_name is empty"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_setting(mode, name, value, words):
    with pytest.raises(ConfigError) as caught:
        render.check_values(mode, {**SENTINEL_VALUES, name: value})
    assert name in str(caught.value) and words in str(caught.value)


def test_cli_renders_a_concrete_example_and_its_policy(capsys, tmp_path):
    assert main(["render", "--mode", "distributed", "--example", "--set", "max_concurrency=250"]) == 0
    definition = json.loads(capsys.readouterr().out)
    assert definition["States"]["FanOut"]["MaxConcurrency"] == 250
    arns = tmp_path / "arns.json"
    arns.write_text(json.dumps(render.EXAMPLE_STRINGS))
    out = tmp_path / "policy.json"
    assert main(["render", "--mode", "inline", "--arns-from", str(arns), "--policy", "--out", str(out)]) == 0
    policy = json.loads(out.read_text())
    assert policy["Statement"][0]["Resource"] == [render.EXAMPLE_STRINGS["generator_function_arn"]]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["render", "--mode", "inline"], "--arns-from FILE or --example"),
        (["render", "--mode", "inline", "--example", "--set", "colour=blue"], "bad --set"),
        (["render", "--mode", "inline", "--example", "--set", "max_concurrency=99"], "out of range"),
        (["render", "--set", "max_concurrency=3"], "need --mode"),
    ],
)
def test_cli_rejects_bad_options_with_a_clear_error(argv, words, capsys):
    assert main(argv) == 2
    assert words in capsys.readouterr().err
