"""terraform/contract.json is the one place modes, defaults and ranges live, and every interface obeys it.

* Variable defaults must be literals (Terraform requires it), so they are checked here against the
  contract: every root and module variable the contract names defaults to the contract's default.
* A module that declares an input the root declares too validates it with the root's conditions and
  messages, read from the same contract: checked on the source, and by planning the same bad values
  against the root and against each such module (called as a consumer would call it) and comparing
  the messages.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
from fanout_tools.contract import contract, contract_json
from fanout_tools.paths import terraform_dir
from fanout_tools.tf import terraform_binary

MODULES = ("batch", "generator", "state_machine", "network", "storage", "alerts")


def _variables(folder: Path) -> dict[str, dict[str, Any]]:
    with (folder / "variables.tf").open() as handle:
        parsed = hcl2.load(handle)
    return {name: body for block in parsed.get("variable", []) for name, body in block.items()}


def _first(body: dict[str, Any], key: str) -> Any:
    value = body[key]
    return value[0] if isinstance(value, list) and len(value) == 1 else value


ROOT = _variables(terraform_dir())
MODULE_VARIABLES = {m: _variables(terraform_dir() / "modules" / m) for m in MODULES}
SETTINGS = contract_json()["settings"]


def _defaults(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """{setting: literal default} of a variable; optional(type, default) attributes of an object flattened."""
    if isinstance(SETTINGS[name], dict) and "default" not in SETTINGS[name]:
        found = re.findall(r"'(\w+)': '\$\{optional\(\w+,([^)]+)\)\}'", _first(body, "type"))
        return {f"{name}_{attr}": json.loads(value) for attr, value in found}
    return {name: _first(body, "default")} if "default" in body else {}


def _contract_default(name: str) -> Any:
    return contract().default(name)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_root_default_is_the_contract_default(name: str) -> None:
    assert name in ROOT, f"contract.json names {name}, which terraform/variables.tf does not declare"
    defaults = _defaults(name, ROOT[name])
    assert defaults, f"variable {name} has no default"
    for setting, value in defaults.items():
        assert value == _contract_default(setting), f"{setting}: variables.tf {value!r} != contract"


@pytest.mark.parametrize(
    ("module", "name"),
    [(m, n) for m, variables in MODULE_VARIABLES.items() for n in sorted(variables) if n in SETTINGS],
)
def test_module_shares_the_roots_default_and_validation(module: str, name: str) -> None:
    body = MODULE_VARIABLES[module][name]
    for setting, value in _defaults(name, body).items():
        assert value == _contract_default(setting), f"modules/{module}: {setting} default {value!r}"
    rules = [(v["condition"], v["error_message"]) for v in body.get("validation", [])]
    root_rules = [(v["condition"], v["error_message"]) for v in ROOT[name].get("validation", [])]
    assert rules == root_rules, f"modules/{module}/variables.tf must validate {name} exactly as the root does"


def test_python_reads_the_same_contract() -> None:
    raw = contract_json()
    c = contract()
    assert c.mode_names == tuple(m["name"] for m in raw["modes"])
    assert set(c.array_modes) | set(c.distributed_modes) == set(c.mode_names) - {"inline"}
    assert c.settings["items_per_batch"].maximum == 10_000  # resolved from aws_limits.json
    assert c.settings["tolerated_failure_percentage"].integer
    assert c.settings["batch_api_retry_backoff_rate"].minimum == 1


# --- the same bad value, planned against the root and against each module that declares it -----

# (variable, bad value, extra root tfvars so that only this variable's rule breaks)
BAD_VALUES: list[tuple[str, Any, dict[str, Any]]] = [
    ("name", "n" * 33, {}),
    ("fanout_mode", "bulk", {}),
    ("compute_type", "GPU", {"job_vcpus": 1}),
    ("max_concurrency", 41, {}),
    ("items_per_batch", 10_001, {}),
    ("tolerated_failure_percentage", 12.5, {}),
    ("tolerated_failure_count", -1, {}),
    ("execution_timeout_seconds", 59, {}),
    ("batch_api_retry", {"max_attempts": -1}, {}),
    ("job_state_time_limit_seconds", 599, {}),
    ("job_retry_exit_codes", ["oom"], {}),
    ("log_retention_days", 42, {}),
    ("alert_emails", ["not-an-address"], {}),
]
# fanout_mode changes what other rules say ("... in bulk mode"): it gets a root plan of its own.
ROOT_BATCHES = {"mode": ["fanout_mode"], "rest": [v for v, *_ in BAD_VALUES if v != "fanout_mode"]}


def _module_inputs(module: str, package: Path) -> dict[str, Any]:
    """Valid values for a module's required inputs (the contract's defaults where it has them)."""
    retry = {attr: contract().default(f"batch_api_retry_{attr}") for attr in SETTINGS["batch_api_retry"]}
    numbers = {
        n: contract().default(n)
        for n in (
            "max_concurrency",
            "items_per_batch",
            "tolerated_failure_percentage",
            "tolerated_failure_count",
        )
    }
    return {
        "batch": {
            "name": contract().default("name"),
            "subnet_ids": ["subnet-0123456789abcdef0"],
            "security_group_ids": ["sg-0123456789abcdef0"],
            "container_image": "public.ecr.aws/docker/library/python:3.12-slim",
            "job_command": ["echo", "Ref::item"],
        },
        "network": {"name": contract().default("name")},
        "alerts": {"name": contract().default("name"), "state_machine_name": contract().default("name")},
        "generator": {
            "function_name": "fanout-generator",
            "package_path": str(package),
            "fanout_mode": contract().default("fanout_mode"),
        },
        "state_machine": {
            "name": contract().default("name"),
            "fanout_mode": contract().default("fanout_mode"),
            "generator_function_name": "fanout-generator",
            "job_queue_name": "fanout-queue",
            "job_definition_name": "fanout-job",
            "execution_timeout_seconds": contract().default("execution_timeout_seconds"),
            "batch_api_retry": retry,
            **numbers,
        },
    }[module]


def _module_bad_value(name: str, value: Any) -> Any:
    if name == "batch_api_retry":  # the module takes the whole object (the root fills optional attributes)
        retry = {attr: contract().default(f"batch_api_retry_{attr}") for attr in SETTINGS["batch_api_retry"]}
        return {**retry, **value}
    return value


def _diagnostics(stderr: str) -> list[tuple[str, str, str]]:
    """(module call, variable, message) of every "Invalid value for variable" diagnostic in Terraform's
    output; the module call is "" for the root's own variables.

    The variable is the message's first word: every message starts with the name of what it checks."""
    text = "\n".join(re.sub(r"^[│╷╵] ?", "", line) for line in stderr.splitlines())
    found = []
    for block in text.split("Error: ")[1:]:
        if not block.startswith("Invalid value for"):
            continue
        call = re.search(r"in module\.(\w+):", block)
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", block) if p.strip()]
        checked = next(i for i, p in enumerate(paragraphs) if p.startswith("This was checked"))
        message = paragraphs[checked - 1]
        found.append((call.group(1) if call else "", message.split(" ")[0].split(".")[0], message))
    return found


def _batches(names: set[str]) -> list[dict[str, Any]]:
    """The bad values for ``names`` in plans of their own: fanout_mode alone, since other rules name
    the mode ("... in bulk mode"); every other value breaks exactly one rule, so they share a plan."""
    batches = [[n for n in names if n == "fanout_mode"], [n for n in names if n != "fanout_mode"]]
    return [{n: v for n, v, _ in BAD_VALUES if n in batch} for batch in batches if batch]


def _collect(stderrs: list[str]) -> dict[str, dict[str, list[str]]]:
    """module call ("" for the root) -> variable -> messages."""
    messages: dict[str, dict[str, list[str]]] = {}
    for stderr in stderrs:
        for call, variable, message in _diagnostics(stderr):
            messages.setdefault(call, {}).setdefault(variable, []).append(message)
    return messages


@pytest.fixture(scope="module")
def root_messages(planner) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    extra = {n: e for n, _, e in BAD_VALUES}
    stderrs = []
    for batch in _batches({n for n, *_ in BAD_VALUES}):
        tf_vars = {k: v for n, value in batch.items() for k, v in {n: value, **extra[n]}.items()}
        stderrs.append(planner.plan_error(tf_vars).stderr)
    return _collect(stderrs).get("", {})


@pytest.fixture(scope="module")
def module_messages(planner, moto_endpoint, generator_zip) -> dict[str, dict[str, list[str]]]:  # type: ignore[no-untyped-def]
    """module -> variable -> messages, each module called as a consumer of that module alone would call
    it (valid required inputs plus the bad values), so its inputs are validated exactly as the root's.

    Every call (each module once per bad value) sits in ONE generated root, planned once: Terraform
    reports every failed validation of a plan, each with the module call it came from."""
    calls: dict[str, dict[str, Any]] = {}
    for module, variables in MODULE_VARIABLES.items():
        for name, value, _ in BAD_VALUES:
            if name in variables:  # one bad value per call: in a module call, one failed validation
                # keeps Terraform from checking the rules of that call that name another variable
                calls[f"{module}__{name}"] = {
                    "source": f"../modules/{module}",
                    **_module_inputs(module, generator_zip),
                    name: _module_bad_value(name, value),
                }
    folder = Path(planner.workdir) / "contract-calls"  # beside modules/ and contract.json, as in the repo
    folder.mkdir(exist_ok=True)
    env = {k: v for k, v in planner.env.items() if not k.startswith("TF_VAR_")}
    env["TF_DATA_DIR"] = str(folder / ".terraform")
    env.setdefault("AWS_ENDPOINT_URL", moto_endpoint)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.setdefault(key, "testing")
    binary = terraform_binary()

    def plan(planned: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
        root = {"provider": {"aws": {"region": "us-east-1"}}, "module": planned}
        (folder / "main.tf.json").write_text(json.dumps(root, indent=2))
        argv = [binary, "plan", "-input=false", "-no-color", "-lock=false"]
        return _collect([subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True).stderr])

    (folder / "main.tf.json").write_text(json.dumps({"module": calls}))
    init = [binary, "init", "-input=false", "-no-color"]
    subprocess.run(init, cwd=folder, env=env, check=True, capture_output=True)
    by_call = plan(calls)
    # A rule that names another variable is checked later in the plan than one that does not, and not
    # at all once another call failed: a call with no message yet is planned again on its own.
    for call in [c for c in calls if c not in by_call]:
        by_call.update(plan({call: calls[call]}))
    out: dict[str, dict[str, list[str]]] = {}
    for call in calls:
        module = call.split("__")[0]
        for variable, messages in by_call.get(call, {}).items():
            out.setdefault(module, {}).setdefault(variable, []).extend(messages)
    return out


def test_every_shared_contract_input_has_a_bad_value_case() -> None:
    shared = {n for variables in MODULE_VARIABLES.values() for n in variables if n in SETTINGS}
    assert shared <= {name for name, *_ in BAD_VALUES}


@pytest.mark.slow
@pytest.mark.xdist_group("plan-b")
@pytest.mark.parametrize(
    ("module", "name"),
    [(m, n) for n, *_ in BAD_VALUES for m, variables in MODULE_VARIABLES.items() if n in variables],
)
def test_module_rejects_a_bad_value_with_the_roots_message(
    root_messages, module_messages, module, name
) -> None:  # type: ignore[no-untyped-def]
    (expected,) = root_messages[name]  # the root rejects the value by exactly one rule
    assert module_messages[module].get(name) == [expected], (
        f"modules/{module} and the root disagree on a bad {name}"
    )
