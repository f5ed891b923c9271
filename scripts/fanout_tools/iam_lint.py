"""IAM linters nobody on the project wrote, on every IAM policy document of a plan.

* parliament (https://github.com/duo-labs/parliament), with its community auditors: checks each
  statement against AWS's action/resource/condition database (a resource ARN that does not fit an
  action's resource types, unknown actions, permissions-management actions, ...).
* cloudsplaining (https://github.com/salesforce/cloudsplaining) with its default exclusions: actions
  without resource constraints that allow privilege escalation, data exfiltration, resource exposure,
  credentials exposure or infrastructure modification (its action data comes from policy_sentry).

Documents (:func:`policy_documents`): role policies and managed policies (identity), bucket, topic
and queue policies (resource), and role trust policies (trust). parliament reads all three kinds;
cloudsplaining only identity and resource policies (it models resource constraints of Allow
statements; a trust policy has no Resource). AWS managed policies attached by ARN are not in the plan
and are not linted. A policy unknown at plan time is a finding: it cannot be checked.

Every finding fails unless an entry of ``iam_lint_exceptions.json`` (beside this module) matches it;
each entry gives the reason and an AWS documentation link. Reports go beside checkov's, in each
``plan-<name>/`` folder: ``parliament.json`` and ``cloudsplaining.json``.
"""

from __future__ import annotations

import fnmatch
import json
import warnings
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fanout_tools.errors import ConfigError
from fanout_tools.tf import module_resources

EXCEPTIONS_PATH = Path(__file__).with_name("iam_lint_exceptions.json")
TOOLS = ("parliament", "cloudsplaining")

# (resource type, attribute, kind): the attributes of a plan that hold a policy document.
POLICY_ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    ("aws_iam_role_policy", "policy", "identity"),
    ("aws_iam_policy", "policy", "identity"),
    ("aws_iam_user_policy", "policy", "identity"),
    ("aws_iam_group_policy", "policy", "identity"),
    ("aws_iam_role", "assume_role_policy", "trust"),
    ("aws_s3_bucket_policy", "policy", "resource"),
    ("aws_sns_topic_policy", "policy", "resource"),
    ("aws_sns_topic", "policy", "resource"),
    ("aws_sqs_queue_policy", "policy", "resource"),
    ("aws_sqs_queue", "policy", "resource"),
)
# Computed copies of a policy set elsewhere (aws_s3_bucket.policy comes from aws_s3_bucket_policy):
# unknown at plan time is normal for them, so only a known value is linted.
OPTIONAL_ATTRIBUTES = frozenset({("aws_sns_topic", "policy"), ("aws_sqs_queue", "policy")})


@dataclass(frozen=True)
class PolicyDocument:
    address: str  # plan address, e.g. module.batch.aws_iam_role_policy.job[0]
    attribute: str  # policy | assume_role_policy | inline_policy
    kind: str  # identity | resource | trust
    text: str  # the document as the plan holds it ("" when unknown at plan time)


@dataclass
class Finding:
    tool: str
    issue: str  # parliament's issue code, or cloudsplaining's risk category
    address: str
    attribute: str
    kind: str
    severity: str
    detail: Any
    exception: dict[str, str] | None = field(default=None)

    def text(self) -> str:
        """What exception ``contains`` patterns are matched against."""
        return f"{self.issue} {json.dumps(self.detail, sort_keys=True)}"

    def describe(self) -> str:
        detail = self.detail if isinstance(self.detail, str) else json.dumps(self.detail, sort_keys=True)
        return f"{self.tool} {self.issue} ({self.severity}) {self.address}.{self.attribute}: {detail}"


# --- documents ---------------------------------------------------------------------------------


def policy_documents(plan: dict[str, Any]) -> list[PolicyDocument]:
    """Every IAM policy document in a plan's planned values (see the module doc for the kinds)."""
    unknown = {
        rc["address"]: (rc.get("change") or {}).get("after_unknown") or {}
        for rc in plan.get("resource_changes", [])
    }
    found: list[PolicyDocument] = []
    for resource in module_resources(plan.get("planned_values", {}).get("root_module", {})):
        if resource.get("mode") != "managed":
            continue
        values = resource.get("values") or {}
        address = resource["address"]
        for rtype, attribute, kind in POLICY_ATTRIBUTES:
            if resource["type"] != rtype:
                continue
            value = values.get(attribute)
            if isinstance(value, str) and value:
                found.append(PolicyDocument(address, attribute, kind, value))
            elif unknown.get(address, {}).get(attribute) and (rtype, attribute) not in OPTIONAL_ATTRIBUTES:
                found.append(PolicyDocument(address, attribute, kind, ""))
        if resource["type"] == "aws_iam_role":
            for block in values.get("inline_policy") or []:
                if isinstance(block, dict) and block.get("policy"):
                    found.append(PolicyDocument(address, "inline_policy", "identity", block["policy"]))
    return found


# --- the tools ---------------------------------------------------------------------------------


@cache
def _parliament() -> Any:
    """parliament configured as ``parliament --include-community-auditors`` configures itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament 1.6.4 imports the deprecated pkg_resources
        import parliament

    parliament.override_config(
        str(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml")
    )
    return parliament


def parliament_findings(document: PolicyDocument) -> list[Finding]:
    """parliament's findings (every severity but MUTE), one per mismatch for RESOURCE_MISMATCH."""
    parliament = _parliament()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        policy = parliament.analyze_policy_string(
            document.text, document.address, include_community_auditors=True, config=parliament.config
        )
    findings = []
    for raw in policy.findings:
        finding = parliament.enhance_finding(raw)
        if finding.severity == "MUTE":
            continue
        location = {
            k: v for k, v in (finding.location or {}).items() if k not in ("filepath", "line", "column")
        }
        details = finding.detail if isinstance(finding.detail, list) and finding.detail else [finding.detail]
        for detail in details:
            shown: Any = detail
            if location:
                shown = {"detail": detail, **location} if detail else location
            findings.append(
                Finding(
                    "parliament",
                    finding.issue,
                    document.address,
                    document.attribute,
                    document.kind,
                    finding.severity,
                    shown,
                )
            )
    return findings


def cloudsplaining_findings(document: PolicyDocument) -> list[Finding]:
    """cloudsplaining's risk categories with findings (its default exclusions), one finding each."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from cloudsplaining.command.scan_policy_file import scan_policy
        from cloudsplaining.shared.constants import DEFAULT_EXCLUSIONS_CONFIG

    results = scan_policy(json.loads(document.text), DEFAULT_EXCLUSIONS_CONFIG)
    findings = []
    for category, result in (results or {}).items():
        if isinstance(result, dict) and result.get("findings"):
            findings.append(
                Finding(
                    "cloudsplaining",
                    category,
                    document.address,
                    document.attribute,
                    document.kind,
                    str(result.get("severity") or "").upper() or "FINDING",
                    result["findings"],
                )
            )
    return findings


def lint_document(document: PolicyDocument) -> dict[str, list[Finding]]:
    """``{tool: findings}`` for one document (see the module doc for which tool reads which kind)."""
    if not document.text:
        unknown = Finding(
            "plan",
            "UNKNOWN_AT_PLAN_TIME",
            document.address,
            document.attribute,
            document.kind,
            "HIGH",
            "the policy is unknown at plan time, so no linter can read it: build it from known values",
        )
        return {tool: [unknown] for tool in TOOLS}
    try:
        json.loads(document.text)
    except json.JSONDecodeError as err:
        bad = Finding(
            "plan", "MALFORMED_JSON", document.address, document.attribute, document.kind, "HIGH", str(err)
        )
        return {tool: [bad] for tool in TOOLS}
    found = {"parliament": parliament_findings(document), "cloudsplaining": []}
    if document.kind != "trust":
        found["cloudsplaining"] = cloudsplaining_findings(document)
    return found


# --- exceptions --------------------------------------------------------------------------------


@cache
def exceptions() -> tuple[dict[str, Any], ...]:
    """The justified exceptions (``iam_lint_exceptions.json``), checked for a reason and an AWS link."""
    raw = json.loads(EXCEPTIONS_PATH.read_text())
    entries = raw.get("exceptions")
    if not isinstance(entries, list):
        raise ConfigError(f"{EXCEPTIONS_PATH.name} has no 'exceptions' list", "see its _comment")
    for number, entry in enumerate(entries):
        missing = [k for k in ("id", "tool", "issue", "addresses", "reason", "url") if not entry.get(k)]
        if missing:
            raise ConfigError(
                f"{EXCEPTIONS_PATH.name} exception #{number} lacks {', '.join(missing)}",
                "every exception names its tool, issue and addresses, says why and links AWS documentation",
            )
        if entry["tool"] not in TOOLS or not str(entry["url"]).startswith("https://docs.aws.amazon.com/"):
            raise ConfigError(
                f"{EXCEPTIONS_PATH.name} exception {entry['id']}: tool must be one of {', '.join(TOOLS)} "
                "and url an https://docs.aws.amazon.com/ page",
                "fix the entry",
            )
    return tuple(entries)


def exception_for(finding: Finding) -> dict[str, Any] | None:
    """The first exception matching ``finding`` (tool, issue, address glob, kind, every ``contains``)."""
    for entry in exceptions():
        if entry["tool"] != finding.tool or entry["issue"] != finding.issue:
            continue
        if entry.get("kind") and entry["kind"] != finding.kind:
            continue
        if not any(fnmatch.fnmatchcase(finding.address, pattern) for pattern in entry["addresses"]):
            continue
        if all(part in finding.text() for part in entry.get("contains", [])):
            return entry
    return None


# --- plans -------------------------------------------------------------------------------------


@dataclass
class LintOutcome:
    name: str
    tool: str
    documents: int
    findings: list[Finding]

    @property
    def unexplained(self) -> list[Finding]:
        return [f for f in self.findings if f.exception is None]

    @property
    def ok(self) -> bool:
        return not self.unexplained


def lint_plan(plan: dict[str, Any], name: str) -> list[LintOutcome]:
    """One outcome per tool for a plan's documents; each finding carries the exception it matched."""
    documents = policy_documents(plan)
    outcomes = {tool: LintOutcome(name, tool, 0, []) for tool in TOOLS}
    for document in documents:
        for tool, findings in lint_document(document).items():
            if tool == "cloudsplaining" and document.kind == "trust":
                continue
            outcomes[tool].documents += 1
            for finding in findings:
                entry = exception_for(finding)
                finding.exception = {"id": entry["id"], "reason": entry["reason"]} if entry else None
                outcomes[tool].findings.append(finding)
    return list(outcomes.values())


def write_reports(outcomes: list[LintOutcome], output_dir: Path) -> None:
    """``<tool>.json`` per tool in ``output_dir`` (beside checkov's reports)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for outcome in outcomes:
        report = {
            "tool": outcome.tool,
            "plan": outcome.name,
            "documents": outcome.documents,
            "findings": [asdict(f) for f in outcome.findings],
            "unexplained": len(outcome.unexplained),
        }
        (output_dir / f"{outcome.tool}.json").write_text(json.dumps(report, indent=2) + "\n")


def print_outcome(outcome: LintOutcome, output_dir: Path) -> None:
    excepted = len(outcome.findings) - len(outcome.unexplained)
    print(
        f"{outcome.tool} {outcome.name}: {outcome.documents} policy documents, {len(outcome.findings)} "
        f"findings, {excepted} justified exceptions, {len(outcome.unexplained)} unexplained "
        f"(report {output_dir / (outcome.tool + '.json')})"
    )
    for finding in outcome.findings:
        if finding.exception:
            print(f"  EXCEPTION {finding.exception['id']}: {finding.describe()}")
        else:
            print(f"  FAILED    {finding.describe()}")


def lint_plan_dirs(plan_dirs: list[Path]) -> bool:
    """Lint ``plan.json`` in each ``plan-<name>/`` folder, write and print the reports; True when
    every finding has a justified exception."""
    ok = True
    for where in plan_dirs:
        name = "plan " + where.name.removeprefix("plan-")
        outcomes = lint_plan(json.loads((where / "plan.json").read_text()), name)
        write_reports(outcomes, where)
        for outcome in outcomes:
            print_outcome(outcome, where)
            ok = ok and outcome.ok
    if not ok:
        print(
            "  what to do: narrow the policy (Terraform or scripts/fanout_tools/iam_integrations.json), "
            f"or, when the finding is a limitation of the tool, add an entry with the reason and an AWS "
            f"documentation link to scripts/fanout_tools/{EXCEPTIONS_PATH.name}"
        )
    return ok
