"""ASL validation: what AWS's ASL language service, statelint and moto's parser accept (pinned: an
upgrade that changes it fails)."""

from __future__ import annotations

import json

import pytest
from fanout_tools import asl_validate, render, validate
from fanout_tools.errors import ToolMissingError

SENTINEL_VALUES = render.sentinel_strings()


def distributed_definition(**changes) -> dict:
    text = render.render_concrete("distributed", {**SENTINEL_VALUES, "tolerated_failure_percentage": 5})
    definition = json.loads(text)
    definition["States"]["FanOut"].update(changes)
    return definition


def test_statelint_still_reports_its_two_known_false_positives():
    """If statelint learns these fields, drop the allowlist in asl_validate (this test will say so)."""
    from statelint.linter import Linter

    raw = Linter.validate(distributed_definition())
    assert len(raw) == 2, raw
    assert all(any(fp.search(p) for fp in asl_validate.STATELINT_FALSE_POSITIVES) for p in raw)
    assert asl_validate.lint(distributed_definition()) == []


def test_statelint_findings_outside_the_allowlist_still_fail():
    definition = distributed_definition()
    del definition["States"]["FanOut"]["ItemProcessor"]["StartAt"]
    assert any("StartAt" in p for p in asl_validate.lint(definition))


def test_moto_parser_rejects_what_the_templates_avoid():
    text = json.dumps(distributed_definition(ItemBatcher={"MaxItemsPerBatch": 10}))
    with pytest.raises(asl_validate.InvalidDefinitionError, match="moto's ASL parser rejects"):
        asl_validate.moto_parse(text)


def test_moto_parser_accepts_an_integer_percentage_as_the_sandbox_runs_it():
    """Bare moto rejects ToleratedFailurePercentage 5 (compat gap 13); the check parses as the sandbox."""
    definition = distributed_definition(ToleratedFailurePercentage=5)
    assert isinstance(definition["States"]["FanOut"]["ToleratedFailurePercentage"], int)
    asl_validate.moto_parse(json.dumps(definition))


# --- AWS's ASL language service ---------------------------------------------------------------


def test_language_service_accepts_every_committed_mode_with_concrete_arns():
    assert validate.definition_problems() == {mode: [] for mode in render.MODES}


def test_rendered_percentages_are_integers():
    for mode in render.MODES:
        for value in (0, 5, 100):
            text = render.render_concrete(mode, {**SENTINEL_VALUES, "tolerated_failure_percentage": value})
            assert f'"tolerated_failure_percentage": {value}\n' in text
            summarize = json.loads(text)["States"]["SummarizeItems"]["Parameters"]["Payload"]["summarize"]
            assert summarize["tolerated_failure_percentage"] == value
            if mode in render.DISTRIBUTED_MODES:  # every failed child tolerated: items are counted after
                assert json.loads(text)["States"]["FanOut"]["ToleratedFailurePercentage"] == 100


def broken(mode: str, old: str, new: str) -> tuple[str, str]:
    template = render.render_template(mode)
    concrete = render.render_concrete(mode, {**SENTINEL_VALUES}, template)
    assert old in concrete
    return template, concrete.replace(old, new, 1)


@pytest.mark.parametrize(
    ("mode", "old", "new", "message"),
    [
        (
            "inline",
            '"Next": "FanOut"',
            '"Next": "Nowhere"',
            'The value of "Next" property must be the name of an existing state',
        ),
        (
            "distributed",
            '"ToleratedFailurePercentage": 100,',
            '"ToleratedFailurePercentage": 100.00,',
            "Incorrect type. Expected one of integer, JSONata expression",
        ),
        (
            "distributed_array",
            '"ToleratedFailurePercentage": 100,',
            '"ToleratedFailurePercentage": 12.5,',
            "Incorrect type. Expected one of integer, JSONata expression",
        ),
    ],
)
def test_language_service_fails_a_broken_next_and_a_float_percentage(mode, old, new, message):
    template, concrete = broken(mode, old, new)
    (diagnostic, *_) = asl_validate.language_service({mode: concrete})[mode]
    assert message in diagnostic["message"]
    assert diagnostic["severity"] == "error"
    with pytest.raises(asl_validate.InvalidDefinitionError, match="AWS's ASL language service") as caught:
        asl_validate.validate(template, concrete, render.SENTINELS)
    assert message in str(caught.value) and f"at `{new.split(': ')[1].rstrip(',')}`" in str(caught.value)


def test_a_diagnostic_of_any_severity_fails(monkeypatch):
    template, concrete = broken("inline", '"Type": "Pass",', '"Type": "Pass",')
    warning = {"severity": "warning", "message": "a hint", "line": 1, "character": 1, "text": "{"}
    monkeypatch.setattr(asl_validate, "language_service", lambda texts: {n: [warning] for n in texts})
    problems = asl_validate.problems({"inline": (template, concrete)}, render.SENTINELS)["inline"]
    assert problems == ["AWS's ASL language service: inline:1:1: a hint (at `{`)"]


def test_language_service_without_node_says_what_to_do(monkeypatch):
    monkeypatch.setattr(asl_validate.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError, match="node not found") as caught:
        asl_validate.language_service({"x": "{}"})
    assert "install Node.js" in caught.value.hint


def test_language_service_not_installed_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(asl_validate, "language_service_dir", lambda: tmp_path)
    with pytest.raises(ToolMissingError, match="not installed") as caught:
        asl_validate.language_service({"x": "{}"})
    assert "make setup" in caught.value.hint


def test_language_service_versions_are_pinned_by_the_committed_lockfile():
    folder = asl_validate.language_service_dir()
    package = json.loads((folder / "package.json").read_text())
    lock = json.loads((folder / "package-lock.json").read_text())
    for name, version in package["dependencies"].items():
        assert version[0].isdigit(), f"{name} must be pinned exactly, not {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


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
