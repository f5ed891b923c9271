"""``fanout render``: render the state-machine definition (and its IAM policy) for every fan-out mode.

One Jinja2 template family (``templates/asl/``) produces the ASL for all modes. The committed outputs
are Terraform templates, ``terraform/modules/state_machine/definitions/<mode>.asl.json.tftpl`` and
``<mode>.policy.json.tftpl``, in which every ARN, name and numeric setting is a placeholder
(``"${job_queue_arn}"``, ``"MaxConcurrency": ${max_concurrency}``); Terraform fills them with
``templatefile()`` and exactly the variables in :data:`STRING_VARIABLES` + :data:`NUMBER_VARIABLES`.

* ``fanout render`` — (re)write the committed templates; each is validated first (statelint, moto's
  ASL parser, ARN provenance: see :mod:`fanout_tools.asl_validate`).
* ``fanout render --check`` — exit 1 if a committed file differs from a fresh render.
* ``fanout render --mode M [--set k=v ...] [--arns-from FILE | --example] [--out FILE]`` — a concrete
  ASL JSON for people to read (``--policy`` prints the derived IAM policy instead).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from fanout_tools import executions
from fanout_tools.contract import contract
from fanout_tools.errors import ConfigError
from fanout_tools.paths import templates_dir, terraform_dir

MODES = contract().mode_names
DISTRIBUTED_MODES = contract().distributed_modes
# Designs rendered beside the modes so they can be deployed for comparison (root variable
# comparison_design), each from templates/asl/<design>.asl.json.j2, with the mode whose stack
# (generator output, job definition) it runs on.
COMPARISON_DESIGNS: dict[str, str] = {"sample": "inline"}
# Template variables: Terraform must pass exactly these to both templates (local.template_vars in
# terraform/modules/state_machine/main.tf).
STRING_VARIABLES = (
    "partition",
    "region",
    "account_id",
    "state_machine_name",
    "generator_function_name",
    "generator_function_arn",
    "job_queue_name",
    "job_queue_arn",
    "job_definition_name",
    "bucket_name",
    "runs_prefix",
)
NUMBER_VARIABLES = (
    "max_concurrency",
    "items_per_batch",
    "tolerated_failure_percentage",
    "tolerated_failure_count",
    "execution_timeout_seconds",
    "batch_api_retry_max_attempts",
    "batch_api_retry_interval_seconds",
    "batch_api_retry_backoff_rate",
    "batch_api_retry_max_delay_seconds",
)
# Rendered with a decimal point whatever Terraform passes (statelint wants a float BackoffRate).
# ToleratedFailurePercentage is NOT one: AWS's ASL schema wants an integer there (the sandbox's
# compat layer lets moto's parser accept it).
FLOAT_VARIABLES = ("batch_api_retry_backoff_rate",)
FLOAT_FORMAT = "%.2f"
# Concurrency of the inline Map inside each Distributed Map child (distributed mode), fixed at render
# time: total in-flight jobs = max_concurrency x this.
DEFAULT_INNER_MAX_CONCURRENCY = 10

# The defaults of terraform/variables.tf, from the contract they are checked against.
DEFAULT_NUMBERS: dict[str, int | float] = {name: contract().default(name) for name in NUMBER_VARIABLES}
EXAMPLE_STRINGS = {
    "partition": "aws",
    "region": "us-east-1",
    "account_id": "123456789012",
    "state_machine_name": "fanout",
    "generator_function_name": "fanout-generator",
    "generator_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:fanout-generator",
    "job_queue_name": "fanout",
    "job_queue_arn": "arn:aws:batch:us-east-1:123456789012:job-queue/fanout",
    "job_definition_name": "fanout",
    "bucket_name": "fanout-123456789012-us-east-1",
    "runs_prefix": "runs/",
}
# Deliberately unusual values: the provenance check proves every ARN part came from a placeholder.
SENTINELS = {
    "partition": "aws-sentinel",
    "region": "xx-sentinel-9",
    "account_id": "111122223333",
}


def definitions_dir() -> Path:
    return terraform_dir() / "modules" / "state_machine" / "definitions"


def sentinel_strings() -> dict[str, str]:
    p, r, a = SENTINELS["partition"], SENTINELS["region"], SENTINELS["account_id"]
    return {
        **SENTINELS,
        "state_machine_name": "sm-sentinel",
        "generator_function_name": "gen-sentinel",
        "generator_function_arn": f"arn:{p}:lambda:{r}:{a}:function:gen-sentinel",
        "job_queue_name": "queue-sentinel",
        "job_queue_arn": f"arn:{p}:batch:{r}:{a}:job-queue/queue-sentinel",
        "job_definition_name": "jobdef-sentinel",
        "bucket_name": "bucket-sentinel",
        "runs_prefix": "runs/",
    }


def placeholder_context() -> dict[str, str]:
    """Context for :func:`fanout_tools.iam.derive_policy` on the template: values are the placeholders."""
    return {name: "${" + name + "}" for name in STRING_VARIABLES}


def render_template(mode: str, inner_max_concurrency: int = DEFAULT_INNER_MAX_CONCURRENCY) -> str:
    """The ``<mode>.asl.json.tftpl`` text: Jinja2 output with Terraform placeholders."""
    import jinja2

    if mode not in MODES and mode not in COMPARISON_DESIGNS:
        raise ConfigError(f"unknown mode {mode!r}", f"use one of {', '.join(MODES)}")
    placeholders: dict[str, str] = {
        name: "${" + name + "}" for name in (*STRING_VARIABLES, *NUMBER_VARIABLES)
    }
    for name in FLOAT_VARIABLES:
        placeholders[name] = '${format("' + FLOAT_FORMAT + '", ' + name + ")}"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir() / "asl"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    # globals, not render arguments: the imported macros see them too
    env.globals.update(
        summary_state=executions.SUMMARY_STATE,
        items_failed_error=executions.ITEMS_FAILED_ERROR,
        items_failed_outcome=executions.ITEMS_FAILED_OUTCOME,
    )
    name = f"{mode}.asl.json.j2" if mode in COMPARISON_DESIGNS else "state_machine.asl.json.j2"
    text = env.get_template(name).render(
        mode=mode,
        v=placeholders,
        inner_max_concurrency=int(inner_max_concurrency),
    )
    # Normalise layout: Terraform placeholders are not JSON, so only trailing spaces are trimmed.
    return "\n".join(line.rstrip() for line in text.strip().splitlines()) + "\n"


def check_values(mode: str, values: dict[str, Any]) -> dict[str, Any]:
    """Validate and coerce a full set of template values; raises :class:`ConfigError` naming the bad one."""
    from fanout_tools.limits import aws_limits

    limits = aws_limits()
    if mode not in MODES and mode not in COMPARISON_DESIGNS:
        raise ConfigError(f"unknown mode {mode!r}", f"use one of {', '.join(MODES)}")
    mode = COMPARISON_DESIGNS.get(mode, mode)  # a comparison design is checked as its stack's mode
    out: dict[str, Any] = {}
    for name in STRING_VARIABLES:
        value = values.get(name)
        if not isinstance(value, str):
            raise ConfigError(f"{name} is missing", "pass it with --arns-from FILE or use --example")
        if any(c in value for c in "\"\\'{}$ \t\n"):
            raise ConfigError(
                f"{name}={value!r} contains quotes, braces, '$' or spaces", "use a plain name/ARN"
            )
        out[name] = value
    for name in ("generator_function_arn", "job_queue_arn"):
        if not out[name].startswith("arn:"):
            raise ConfigError(f"{name}={out[name]!r} is not an ARN", "pass the full arn:... value")
    if contract().mode(mode).uses_bucket and not out["bucket_name"]:
        raise ConfigError(f"bucket_name is empty but mode {mode} stores items in S3", "pass the bucket name")
    # Ranges from the contract (terraform/contract.json): the same ones terraform/variables.tf checks.
    ranges = {name: contract().settings[name].bounds() for name in NUMBER_VARIABLES}
    max_conc = limits.inline_map_max_concurrency
    if contract().is_distributed(mode):
        max_conc = limits.distributed_map_max_concurrency
    ranges["max_concurrency"] = (ranges["max_concurrency"][0], max_conc)
    why = {
        "max_concurrency": f"{mode} mode allows at most {max_conc} concurrent iterations",
        "items_per_batch": "a batch is at most one Batch array job",
        "tolerated_failure_percentage": "a percentage",
        "tolerated_failure_count": "a count of items",
        "execution_timeout_seconds": "Standard workflows",
        "batch_api_retry_max_attempts": "0 disables retries",
        "batch_api_retry_interval_seconds": "seconds before the first retry",
        "batch_api_retry_backoff_rate": "ASL requires >= 1.0",
        "batch_api_retry_max_delay_seconds": "ASL MaxDelaySeconds range",
    }
    for name in NUMBER_VARIABLES:
        raw = values.get(name, DEFAULT_NUMBERS[name])
        try:
            number = float(raw) if name in FLOAT_VARIABLES else int(str(raw))
        except ValueError:
            kind = "a number" if name in FLOAT_VARIABLES else "an integer"
            raise ConfigError(f"{name}={raw!r} is not {kind}", f"pass {name}=<{kind}>") from None
        low, high = ranges[name]
        if not low <= number <= high:
            raise ConfigError(f"{name}={number} is out of range {_bound(low)}..{_bound(high)}", why[name])
        out[name] = number
    return out


def render_concrete(mode: str, values: dict[str, Any], template_text: str | None = None) -> str:
    """Concrete ASL JSON text, exactly as Terraform's templatefile() would produce it."""
    from fanout_tools.asl_validate import templatefile

    checked = check_values(mode, values)
    return templatefile(template_text or render_template(mode), checked)


def validated_outputs(
    mode: str, inner_max_concurrency: int = DEFAULT_INNER_MAX_CONCURRENCY
) -> dict[str, str]:
    """Render + validate one mode; returns {filename: text} for its two committed templates."""
    from fanout_tools import asl_validate
    from fanout_tools.iam import derive_policy

    template = render_template(mode, inner_max_concurrency)
    unknown = asl_validate.template_variables(template) - set(STRING_VARIABLES) - set(NUMBER_VARIABLES)
    if unknown:
        raise asl_validate.InvalidDefinitionError(
            f"{mode}: template uses unknown variables {sorted(unknown)}"
        )
    concrete = render_concrete(mode, {**sentinel_strings(), **DEFAULT_NUMBERS}, template)
    asl_validate.validate(template, concrete, SENTINELS)
    # Policy from the template itself: strings stay placeholders, numbers get defaults (irrelevant to IAM).
    skeleton = json.loads(asl_validate.templatefile(template, {**placeholder_context(), **DEFAULT_NUMBERS}))
    policy = derive_policy(skeleton, placeholder_context())
    return {
        f"{mode}.asl.json.tftpl": template,
        f"{mode}.policy.json.tftpl": json.dumps(policy, indent=2) + "\n",
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed templates are stale")
    parser.add_argument("--mode", choices=MODES, help="render one concrete definition for this mode")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"numeric setting for --mode ({', '.join(NUMBER_VARIABLES)})",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--arns-from", type=Path, metavar="FILE", help="JSON object with the string variables"
    )
    source.add_argument(
        "--example", action="store_true", help="use example ARNs/names (account 123456789012)"
    )
    parser.add_argument("--policy", action="store_true", help="with --mode: print the derived IAM policy")
    parser.add_argument("--out", type=Path, help="with --mode: write here instead of stdout")
    parser.add_argument(
        "--inner-max-concurrency",
        type=int,
        default=DEFAULT_INNER_MAX_CONCURRENCY,
        help="distributed mode: concurrent jobs inside each child workflow",
    )


def run(args: argparse.Namespace) -> int:
    if args.mode:
        return _render_one(args)
    if args.set or args.arns_from or args.example or args.out or args.policy:
        raise ConfigError("--set/--arns-from/--example/--out/--policy need --mode", "add --mode <mode>")
    if not 1 <= args.inner_max_concurrency <= 40:
        raise ConfigError("--inner-max-concurrency must be 1..40", "an inline Map runs at most 40 iterations")
    outputs: dict[str, str] = {}
    for mode in (*MODES, *COMPARISON_DESIGNS):
        outputs.update(validated_outputs(mode, args.inner_max_concurrency))
    target = definitions_dir()
    stale = [name for name, text in outputs.items() if _read(target / name) != text]
    if args.check:
        for name in stale:
            print(f"stale: {target / name}", file=sys.stderr)
        if stale:
            print("  what to do: run `fanout render` and commit the result", file=sys.stderr)
            return 1
        print(f"up to date: {len(outputs)} files in {target}")
        return 0
    target.mkdir(parents=True, exist_ok=True)
    for name in stale:
        tmp = target / f".{name}.tmp"
        tmp.write_text(outputs[name])
        tmp.replace(target / name)
    print(f"rendered {len(outputs)} files in {target} ({len(stale)} changed)")
    return 0


def _render_one(args: argparse.Namespace) -> int:
    from fanout_tools import asl_validate
    from fanout_tools.iam import derive_policy

    values: dict[str, Any] = {}
    if args.example:
        values.update(EXAMPLE_STRINGS)
    elif args.arns_from:
        try:
            loaded = json.loads(args.arns_from.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"cannot read {args.arns_from}: {err}", "pass a JSON object file") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{args.arns_from} is not a JSON object", "map variable names to values")
        values.update(loaded)
    else:
        raise ConfigError("--mode needs --arns-from FILE or --example", "say where the ARNs come from")
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or name not in NUMBER_VARIABLES:
            raise ConfigError(
                f"bad --set {item!r}", f"use NAME=VALUE with NAME in {', '.join(NUMBER_VARIABLES)}"
            )
        values[name] = value
    template = render_template(args.mode, args.inner_max_concurrency)
    text = render_concrete(args.mode, values, template)
    definition = json.loads(text)
    problems = asl_validate.lint(definition)
    if problems:
        raise asl_validate.InvalidDefinitionError(
            "statelint: " + "; ".join(problems), "check the --set values"
        )
    asl_validate.moto_parse(text)
    if args.policy:
        context = {k: str(values[k]) for k in STRING_VARIABLES}
        text = json.dumps(derive_policy(definition, context), indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _bound(value: float) -> str:
    """A range bound as people write it: 40, 1.5, and nothing for an open end."""
    if value in (math.inf, -math.inf):
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
