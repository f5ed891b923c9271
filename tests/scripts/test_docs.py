"""``fanout docs``: tables generated from a module's .tf files; --check fails on a stale README."""

from __future__ import annotations

import shutil
import textwrap

import pytest
from fanout_tools import docs
from fanout_tools.cli import main
from fanout_tools.errors import ConfigError
from fanout_tools.paths import repo_root

FIXTURE_TF = textwrap.dedent(
    """\
    variable "name" {
      description = "Name of the thing (\\"quoted\\", <prefix>)."
      type        = string
    }

    variable "retry" {
      type = object({
        n = optional(number, 8)
        c = optional(list(string), ["a", "b"])
      })
      default = {}
    }

    variable "tags" {
      description = "Tags | labels."
      type        = map(string)
      default = { team = "data" }
    }

    variable "pairs" {
      type    = list(tuple([string, number]))
      default = null
    }

    variable "anything" {
      default = ["x", 1, true]
    }

    output "arn" {
      description = "ARN of the thing."
      value       = "x"
    }
    """
)

EXPECTED_ROOT = textwrap.dedent(
    """\
    | Name | Description | Type | Default | Required |
    |---|---|---|---|---|
    | `name` | Name of the thing ("quoted", &lt;prefix&gt;). | `string` |  | yes |
    | `retry` |  | `object({ n = optional(number, 8), c = optional(list(string), ["a", "b"]) })` | `{}` | no |
    | `tags` | Tags \\| labels. | `map(string)` | `{ team = "data" }` | no |
    | `pairs` |  | `list(tuple([string, number]))` | `null` | no |
    | `anything` |  | `any` | `["x", 1, true]` | no |

    | Output | Description |
    |---|---|
    | `arn` | ARN of the thing. |
    """
)

EXPECTED_MODULE = textwrap.dedent(
    """\
    #### `terraform/modules/fixture`

    | Input | Type | Default | Description |
    |---|---|---|---|
    | `name` | `string` | required | Name of the thing ("quoted", &lt;prefix&gt;). |
    | `retry` | `object({ n = optional(number, 8), c = optional(list(string), ["a", "b"]) })` | `{}` |  |
    | `tags` | `map(string)` | `{ team = "data" }` | Tags \\| labels. |
    | `pairs` | `list(tuple([string, number]))` | `null` |  |
    | `anything` | `any` | `["x", 1, true]` |  |

    Outputs: `arn`.
    """
)


@pytest.fixture
def fixture_tree(tmp_path):
    """A Terraform tree with one root (the fixture) and one module (the same fixture)."""
    tf_root = tmp_path / "terraform"
    module = tf_root / "modules" / "fixture"
    module.mkdir(parents=True)
    (tf_root / "variables.tf").write_text(FIXTURE_TF)
    (module / "variables.tf").write_text(FIXTURE_TF)
    (tf_root / "backend_override.tf").write_text('variable "ignored" {}\n')  # override files are skipped
    return tf_root


def test_fixture_module_tables(fixture_tree):
    doc = docs.read_module(fixture_tree)
    assert docs.render_block(docs.ROOT, doc) == EXPECTED_ROOT
    assert docs.render_block("modules/fixture", doc) == EXPECTED_MODULE


def test_update_fills_blocks_and_adds_a_missing_module_block(fixture_tree):
    readme = "# Title\n\n<!-- BEGIN_TF_DOCS root -->\nold\n<!-- END_TF_DOCS root -->\n\nafter\n"
    text, changed = docs.update(readme, fixture_tree)
    assert changed == ["root", "modules/fixture"]
    assert text == (
        "# Title\n\n<!-- BEGIN_TF_DOCS root -->\n" + EXPECTED_ROOT + "<!-- END_TF_DOCS root -->"
        "\n\n<!-- BEGIN_TF_DOCS modules/fixture -->\n"
        + EXPECTED_MODULE
        + "<!-- END_TF_DOCS modules/fixture -->"
        "\n\nafter\n"
    )
    assert docs.update(text, fixture_tree) == (text, [])


def test_a_block_for_a_missing_module_is_an_error(fixture_tree):
    readme = "<!-- BEGIN_TF_DOCS root -->\n<!-- END_TF_DOCS root -->\n"
    readme += "<!-- BEGIN_TF_DOCS modules/gone -->\n<!-- END_TF_DOCS modules/gone -->\n"
    with pytest.raises(ConfigError, match="modules/gone"):
        docs.update(readme, fixture_tree)


def test_check_fails_on_a_stale_copy_and_passes_on_the_fresh_one(tmp_path, capsys):
    copy = tmp_path / "README.md"
    shutil.copy(repo_root() / "README.md", copy)
    text = copy.read_text()
    first_row = text.index("| `name` |", text.index("<!-- BEGIN_TF_DOCS root -->"))
    copy.write_text(text[:first_row] + "| `renamed` | stale | `string` | | no |\n" + text[first_row:])

    assert main(["docs", "--check", "--readme", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "stale:" in err and "block `root`" in err and "modules/batch" not in err
    assert "fanout docs" in err  # says how to fix it

    assert main(["docs", "--readme", str(copy)]) == 0
    assert main(["docs", "--check", "--readme", str(copy)]) == 0
    assert "`renamed`" not in copy.read_text()


def test_committed_readme_is_current():
    assert main(["docs", "--check"]) == 0, "run `make fmt` (or `fanout docs`) and commit README.md"
