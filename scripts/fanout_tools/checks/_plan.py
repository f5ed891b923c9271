"""Shared reader for the project's checks: the whole plan JSON, indexed (no checks in this file).

checkov hands a check one resource at a time, but "the role grants exactly what the definition
needs" is a relation between resources. Each check therefore reads the plan file checkov is scanning
(from the check's ``entity_path``), once per file, and asks this index about the other resources.

Values come from ``planned_values`` (after), data sources from ``prior_state``, and links between
resources (which role a policy belongs to, which role a state machine uses) from the plan's
``configuration`` references, because role names/ARNs are unknown at plan time.
"""

from __future__ import annotations

import abc
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from checkov.common.models.enums import CheckResult

from fanout_tools.tf import module_resources

_INDEX = re.compile(r"\[[^\]]*\]")


def role_scopes() -> dict[str, Any]:
    from fanout_tools.checks._role_scopes import ROLE_SCOPES

    return ROLE_SCOPES


def is_plan_scan(conf: dict[str, Any]) -> bool:
    """Plan resources carry checkov's change markers; HCL resources do not."""
    return "__change_actions__" in conf or "__change_keys__" in conf


def plan_file(entity_path: str, entity_type: str) -> Path | None:
    """The plan JSON being scanned.

    ``$FANOUT_PLAN_JSON`` when set (``fanout scan`` and the tests set it); else the file in the
    check's ``entity_path`` (``<file>:<type>:<name>``) when it is JSON; else the ``-f``/``--file``
    argument of the checkov command line (with ``--repo-root-for-plan-enrichment`` checkov reports the
    .tf file instead of the plan).
    """
    candidates: list[str] = []
    if os.environ.get("FANOUT_PLAN_JSON"):
        candidates.append(os.environ["FANOUT_PLAN_JSON"])
    marker = f":{entity_type}:"
    head = entity_path.split(marker, 1)[0] if marker in entity_path else entity_path.rsplit(":", 2)[0]
    candidates += [head, str(Path.cwd() / head.lstrip("/"))]
    argv = sys.argv
    for i, arg in enumerate(argv[:-1]):
        if arg in ("-f", "--file"):
            candidates.append(argv[i + 1])
    for candidate in candidates:
        path = Path(candidate)
        if path.suffix == ".json" and path.is_file():
            return path.resolve()
    return None


def strip_indexes(address: str) -> str:
    return _INDEX.sub("", address)


def module_of(address: str) -> str:
    """``module.a[0].module.b.aws_x.y`` -> ``module.a[0].module.b`` ('' for the root)."""
    parts = address.split(".")
    out: list[str] = []
    i = 0
    while i < len(parts) - 2 and parts[i] == "module":
        out += parts[i : i + 2]
        i += 2
    return ".".join(out)


@dataclass
class Resource:
    address: str
    type: str
    name: str
    values: dict[str, Any]
    unknown: dict[str, Any]
    module: str
    expressions: dict[str, Any] = field(default_factory=dict)

    def refs(self, attribute: str) -> list[str]:
        expr = self.expressions.get(attribute) or {}
        return list(expr.get("references", [])) if isinstance(expr, dict) else []


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def load_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


class PlanIndex:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.resources: dict[str, Resource] = {}
        unknown = {
            rc["address"]: (rc.get("change") or {}).get("after_unknown") or {}
            for rc in plan.get("resource_changes", [])
        }
        config = _config_expressions(plan.get("configuration", {}).get("root_module", {}), "")
        for res in module_resources(plan.get("planned_values", {}).get("root_module", {})):
            if res.get("mode") != "managed":
                continue
            address = res["address"]
            self.resources[address] = Resource(
                address=address,
                type=res["type"],
                name=res["name"],
                values=res.get("values") or {},
                unknown=unknown.get(address, {}),
                module=module_of(address),
                expressions=config.get(strip_indexes(address), {}),
            )
        self.data = {
            res["address"]: res.get("values") or {}
            for res in module_resources(plan.get("prior_state", {}).get("values", {}).get("root_module", {}))
            if res.get("mode") == "data"
        }
        self.variables = {k: v.get("value") for k, v in (plan.get("variables") or {}).items()}

    # --- lookups ----------------------------------------------------------------------------
    def of_type(self, rtype: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == rtype]

    def data_value(self, dtype: str, attribute: str) -> str:
        for address, values in self.data.items():
            if address.split(".")[-2] == dtype and values.get(attribute):
                return str(values[attribute])
        return ""

    def context(self) -> dict[str, str]:
        """partition / region / account_id from the plan's data sources."""
        return {
            "partition": self.data_value("aws_partition", "partition"),
            "region": self.data_value("aws_region", "id") or self.data_value("aws_region", "name"),
            "account_id": self.data_value("aws_caller_identity", "account_id"),
        }

    def referenced(self, res: Resource, attribute: str, rtype: str) -> Resource | None:
        """The ``rtype`` resource that ``res.attribute`` refers to (same module), if any."""
        for ref in res.refs(attribute):
            parts = ref.split(".")
            if len(parts) >= 2 and parts[0] == rtype:
                wanted = f"{res.module}.{parts[0]}.{parts[1]}" if res.module else f"{parts[0]}.{parts[1]}"
                for candidate in self.resources.values():
                    if (
                        strip_indexes(candidate.address) == strip_indexes(wanted)
                        and candidate.module == res.module
                    ):
                        return candidate
        return None

    def role_of(self, res: Resource, attribute: str) -> Resource | None:
        role = self.referenced(res, attribute, "aws_iam_role")
        if role:
            return role
        # Fallback: a known role name or ARN.
        value = str(res.values.get(attribute) or "")
        name = value.rsplit("/", 1)[-1]
        for candidate in self.of_type("aws_iam_role"):
            if name and candidate.values.get("name") == name:
                return candidate
        return None

    def role_grants(self, role: Resource) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        """(inline policy documents with their addresses, managed policy ARNs) attached to ``role``."""
        documents: list[tuple[str, dict[str, Any]]] = []
        managed: list[str] = []
        for policy in self.of_type("aws_iam_role_policy"):
            if self.role_of(policy, "role") is role:
                documents.append((policy.address, load_json(policy.values.get("policy")) or {}))
        for attachment in self.of_type("aws_iam_role_policy_attachment"):
            if self.role_of(attachment, "role") is role:
                managed.append(str(attachment.values.get("policy_arn")))
        for block in as_list(role.values.get("inline_policy")):
            if isinstance(block, dict) and block.get("policy"):
                documents.append((f"{role.address}.inline_policy", load_json(block["policy"]) or {}))
        managed += [str(a) for a in as_list(role.values.get("managed_policy_arns"))]
        return documents, managed

    def roles_used_by_state_machines(self) -> dict[str, Resource]:
        out: dict[str, Resource] = {}
        for machine in self.of_type("aws_sfn_state_machine"):
            role = self.role_of(machine, "role_arn")
            if role:
                out[role.address] = machine
        return out

    def kms_keys(self) -> set[str]:
        keys = {str(self.variables.get("kms_key_arn") or "")}
        for res in self.resources.values():
            for attribute in ("kms_key_id", "kms_key_arn", "kms_master_key_id"):
                if isinstance(res.values.get(attribute), str):
                    keys.add(res.values[attribute])
        keys.discard("")
        return keys


def _config_expressions(module: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for res in module.get("resources", []):
        out[f"{prefix}{res['address']}"] = res.get("expressions", {})
    for name, call in (module.get("module_calls") or {}).items():
        out.update(_config_expressions(call.get("module", {}), f"{prefix}module.{name}."))
    return out


_CACHE: dict[tuple[str, float], PlanIndex] = {}


def index_for(entity_path: str, entity_type: str) -> PlanIndex | None:
    path = plan_file(entity_path, entity_type)
    if path is None:
        return None
    key = (str(path), path.stat().st_mtime)
    if key not in _CACHE:
        _CACHE[key] = PlanIndex(json.loads(path.read_text()))
    return _CACHE[key]


# --- policy helpers ----------------------------------------------------------------------------


def statements(document: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [s for s in as_list((document or {}).get("Statement")) if isinstance(s, dict)]


def grants(documents: list[dict[str, Any]]) -> tuple[set[tuple[str, str]], list[str]]:
    """(action, resource) pairs an Allow grants, plus problems this simple model cannot compare."""
    pairs: set[tuple[str, str]] = set()
    problems: list[str] = []
    for document in documents:
        for st in statements(document):
            sid = st.get("Sid", "?")
            if st.get("Effect") != "Allow":
                continue
            if "NotAction" in st or "NotResource" in st or "NotPrincipal" in st:
                problems.append(f"statement {sid} uses NotAction/NotResource (grants everything else)")
                continue
            for action in as_list(st.get("Action")):
                for resource in as_list(st.get("Resource")):
                    pairs.add((str(action), str(resource)))
    return pairs, problems


def fill(pattern: str, values: dict[str, str]) -> str | None:
    """``${name}`` substitution; None when a value is missing/empty (the grant does not apply)."""
    names = re.findall(r"\$\{(\w+)\}", pattern)
    if any(not values.get(n) for n in names):
        return None
    return Template(pattern).substitute(values)


def describe(pairs: set[tuple[str, str]]) -> str:
    return "; ".join(f"{a} on {r}" for a, r in sorted(pairs))


def outcome(problems: list[str], details: list[str]) -> CheckResult:
    details.extend(problems)
    return CheckResult.FAILED if problems else CheckResult.PASSED


# --- base class ------------------------------------------------------------------------------

from checkov.common.models.enums import CheckCategories  # noqa: E402
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck  # noqa: E402


class PlanCheck(BaseResourceCheck):
    """A check that needs the whole plan. On an HCL (source) scan it reports nothing (UNKNOWN).

    Subclasses implement :meth:`problems`; an empty list is PASSED, otherwise FAILED with the
    problems as the record's details. ``None`` means "not this check's business" (no result).
    """

    def __init__(self, check_id: str, name: str, resources: list[str]) -> None:
        super().__init__(
            name=name, id=check_id, categories=[CheckCategories.IAM], supported_resources=resources
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if not is_plan_scan(conf):
            return CheckResult.UNKNOWN
        index = index_for(self.entity_path, self.entity_type)
        address = conf.get("__address__")
        address = address[0] if isinstance(address, list) else address
        if index is None or address not in index.resources:
            self.details.append("cannot read the scanned plan file: the check cannot decide")
            return CheckResult.FAILED
        found = self.problems(index, index.resources[address])
        if found is None:
            return CheckResult.UNKNOWN
        self.details.extend(found)
        return CheckResult.FAILED if found else CheckResult.PASSED

    @abc.abstractmethod
    def problems(self, index: PlanIndex, resource: Resource) -> list[str] | None:
        """What is wrong with ``resource`` ([] = PASSED), or None when the check does not apply."""


# --- role scopes -------------------------------------------------------------------------------


def scope_of(role: Resource) -> dict[str, Any] | None:
    return role_scopes()["roles"].get(strip_indexes(role.address))


def definitions(index: PlanIndex) -> list[dict[str, Any]]:
    return [
        d
        for d in (load_json(m.values.get("definition")) for m in index.of_type("aws_sfn_state_machine"))
        if d
    ]


def role_context(index: PlanIndex, role: Resource) -> dict[str, str]:
    """Placeholder values for ``_role_scopes.py`` (see its _comment)."""
    ctx = index.context()
    same_module = [r for r in index.resources.values() if r.module == role.module]
    log_groups = [
        str(r.values.get("name") or "") for r in same_module if r.type == "aws_cloudwatch_log_group"
    ]
    functions = [
        str(r.values.get("function_name") or "") for r in same_module if r.type == "aws_lambda_function"
    ]
    buckets = [str(b.values.get("bucket") or "") for b in index.of_type("aws_s3_bucket")]
    bucket = buckets[0] if len(buckets) == 1 else ""
    submits_arrays = any("ArrayProperties" in json.dumps(d) for d in definitions(index))
    ctx.update(
        module_log_group=log_groups[0] if len(log_groups) == 1 else "",
        function_name=functions[0] if len(functions) == 1 else "",
        bucket=bucket,
        items_bucket=bucket if submits_arrays else "",
        runs_prefix=runs_prefix(index),
        kms_key_arn=str(index.variables.get("kms_key_arn") or ""),
    )
    return ctx


def runs_prefix(index: PlanIndex) -> str:
    for function in index.of_type("aws_lambda_function"):
        for block in as_list(function.values.get("environment")):
            value = ((block or {}).get("variables") or {}).get("FANOUT_RUNS_PREFIX")
            if value:
                return str(value)
    return ""


def scoped_grants(scope: dict[str, Any], ctx: dict[str, str]) -> tuple[set[tuple[str, str]], set[str]]:
    """The (action, resource) pairs and managed policy ARNs ``scope`` allows in this context."""
    pairs: set[tuple[str, str]] = set()
    for grant in scope.get("grants", []):
        if grant.get("when") and not ctx.get(grant["when"]):
            continue
        for pattern in grant["resources"]:
            resource = fill(pattern, ctx)
            if resource is None:
                continue
            pairs.update((action, resource) for action in grant["actions"])
    managed = {m for m in (fill(p, ctx) for p in scope.get("managed_policies", [])) if m}
    return pairs, managed


def compare(actual: set[tuple[str, str]], expected: set[tuple[str, str]]) -> list[str]:
    problems = []
    missing = expected - actual
    extra = actual - expected
    if missing:
        problems.append(f"missing (the workflow would fail): {describe(missing)}")
    if extra:
        problems.append(f"not needed (least privilege): {describe(extra)}")
    return problems
