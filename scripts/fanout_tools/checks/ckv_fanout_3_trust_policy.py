"""CKV_FANOUT_3: every role trusts exactly one service principal, bounded by source conditions.

One Allow statement, action sts:AssumeRole, one ``Service`` principal equal to the one
``_role_scopes.py`` names for the role, and an ``aws:SourceAccount`` (equal to the plan's account)
or ``aws:SourceArn`` (in this account) condition against the confused-deputy problem.
"""

from __future__ import annotations

from fanout_tools.checks._plan import PlanCheck, PlanIndex, Resource, as_list, load_json, scope_of, statements

ID = "CKV_FANOUT_3"
NAME = "Role trust policy names one service principal bounded by aws:SourceAccount/aws:SourceArn"
SOURCE_KEYS = ("aws:sourceaccount", "aws:sourcearn")


class TrustOneBoundedService(PlanCheck):
    def __init__(self) -> None:
        super().__init__(ID, NAME, ["aws_iam_role"])

    def problems(self, index: PlanIndex, resource: Resource) -> list[str] | None:
        document = load_json(resource.values.get("assume_role_policy"))
        if not isinstance(document, dict):
            return ["the trust policy is unknown at plan time"]
        scope = scope_of(resource)
        sts = statements(document)
        if len(sts) != 1:
            return [f"expected one trust statement, found {len(sts)}"]
        st = sts[0]
        problems = []
        if st.get("Effect") != "Allow" or [str(a) for a in as_list(st.get("Action"))] != ["sts:AssumeRole"]:
            problems.append("the statement must Allow exactly sts:AssumeRole")
        principal = st.get("Principal")
        services = as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if not isinstance(principal, dict) or set(principal) != {"Service"} or len(services) != 1:
            problems.append(f"the principal must be exactly one service, found {principal!r}")
        elif scope is None:
            problems.append("the role is not described in checks/_role_scopes.py")
        elif services[0] != scope["principal"]:
            problems.append(f"trusts {services[0]}, _role_scopes.py says {scope['principal']}")
        ctx = index.context()
        bounded = False
        for operator, conditions in (st.get("Condition") or {}).items():
            for key, values in (conditions or {}).items():
                if key.lower() not in SOURCE_KEYS:
                    continue
                values = [str(v) for v in as_list(values)]
                if key.lower() == "aws:sourceaccount" and values != [ctx["account_id"]]:
                    problems.append(f"{operator} aws:SourceAccount {values} is not this account")
                elif key.lower() == "aws:sourcearn" and not all(
                    v.startswith(f"arn:{ctx['partition']}:") and f":{ctx['account_id']}:" in v for v in values
                ):
                    problems.append(f"{operator} aws:SourceArn {values} is not in this account")
                else:
                    bounded = True
        if not bounded:
            problems.append("no aws:SourceAccount or aws:SourceArn condition (confused deputy)")
        return problems


check = TrustOneBoundedService()
