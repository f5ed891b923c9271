"""ASL validation: what statelint and moto's parser accept (pinned: an upgrade that changes it fails)."""

from __future__ import annotations

import json

import pytest
from fanout_tools import asl_validate, render

SENTINEL_VALUES = render.sentinel_strings()


def distributed_definition(**changes) -> dict:
    text = render.render_concrete("distributed", {**SENTINEL_VALUES, "tolerated_failure_percentage": 5})
    definition = json.loads(text)
    definition["States"]["FanOut"].update(changes)
    return definition


def test_statelint_still_reports_its_three_known_false_positives():
    """If statelint learns these fields, drop the allowlist in asl_validate (this test will say so)."""
    from statelint.linter import Linter

    raw = Linter.validate(distributed_definition())
    assert len(raw) == 3, raw
    assert all(any(fp.search(p) for fp in asl_validate.STATELINT_FALSE_POSITIVES) for p in raw)
    assert asl_validate.lint(distributed_definition()) == []


def test_statelint_findings_outside_the_allowlist_still_fail():
    definition = distributed_definition()
    del definition["States"]["FanOut"]["ItemProcessor"]["StartAt"]
    assert any("StartAt" in p for p in asl_validate.lint(definition))


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"ToleratedFailurePercentage": 5}, "integer percentage (5.0 parses)"),
        ({"ItemBatcher": {"MaxItemsPerBatch": 10}}, "ItemBatcher"),
    ],
)
def test_moto_parser_rejects_what_the_templates_avoid(changes, why):
    text = json.dumps(distributed_definition(**changes))
    with pytest.raises(asl_validate.InvalidDefinitionError, match="moto's ASL parser rejects"):
        asl_validate.moto_parse(text)


def test_moto_parser_rejects_jsonl_reader():
    """moto's preprocessor fails on InputType JSONL (a ValueError, reported the same way)."""
    definition = distributed_definition()
    definition["States"]["FanOut"]["ItemReader"]["ReaderConfig"]["InputType"] = "JSONL"
    with pytest.raises(asl_validate.InvalidDefinitionError):
        asl_validate.moto_parse(json.dumps(definition))


def test_moto_parser_accepts_every_committed_mode():
    for mode in render.MODES:
        asl_validate.moto_parse(render.render_concrete(mode, {**SENTINEL_VALUES}))


def test_hard_coded_partition_in_template_is_rejected():
    template = render.render_template("inline").replace(
        "arn:${partition}:states:::lambda", "arn:aws:states:::lambda"
    )
    text = render.render_concrete("inline", {**SENTINEL_VALUES}, template)
    with pytest.raises(asl_validate.InvalidDefinitionError, match="hard-coded ARN partition"):
        asl_validate.validate(template, text, render.SENTINELS)


@pytest.mark.parametrize(
    ("literal", "words"),
    [
        ("arn:aws-sentinel:lambda:us-east-1:111122223333:function:x", "region that did not come from"),
        ("arn:aws-sentinel:lambda:xx-sentinel-9:123456789012:function:x", "account that did not come from"),
        ("run in eu-west-1 please", "hard-coded region eu-west-1"),
        ("account 210987654321", "hard-coded account ID 210987654321"),
    ],
)
def test_concrete_values_not_from_placeholders_are_rejected(literal, words):
    template = render.render_template("inline")
    definition = json.loads(render.render_concrete("inline", {**SENTINEL_VALUES}, template))
    definition["States"]["RejectedInput"]["Comment"] = literal
    with pytest.raises(asl_validate.InvalidDefinitionError, match=words):
        asl_validate.check_arn_provenance(template, definition, render.SENTINELS)


def test_templatefile_emulation_handles_only_known_forms():
    assert asl_validate.templatefile('x ${a} ${format("%.2f", b)}', {"a": "A", "b": 5}) == "x A 5.00"
    with pytest.raises(asl_validate.InvalidDefinitionError, match="not given"):
        asl_validate.templatefile("${missing}", {})
    with pytest.raises(asl_validate.InvalidDefinitionError, match="cannot evaluate"):
        asl_validate.templatefile("${upper(a)}", {"a": "x"})
    assert asl_validate.template_variables('${a} ${format("%.2f", b)}') == {"a", "b"}
