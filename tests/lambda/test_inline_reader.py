"""The job definition's default array command carries the reader inline (``terraform/main.tf``,
``local.item_reader``): it is the current ``fanout_item.py``, small enough for ECS overrides, and runs
on a bare interpreter (``python3 -I -S``: no site-packages) of every Python from 3.8 on.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import batches
import inline
import pytest

PYENV = Path.home() / ".pyenv" / "versions"


def _interpreters() -> list[str]:
    found = [
        str(p)
        for p in sorted(PYENV.glob("3.*/bin/python3"))
        if tuple(int(x) for x in p.parent.parent.name.split(".")[:2]) >= (3, 8)
    ]
    return found or [shutil.which("python3") or "python3"]


def test_terraform_holds_the_current_reader():
    held = inline.unpack(inline.terraform_program())
    assert ast.dump(ast.parse(held)) == ast.dump(ast.parse(inline.minified())), (
        "terraform/main.tf local.item_reader is stale: run python3 lambda/job/inline.py --write"
    )


def test_default_array_command_runs_the_inline_reader_isolated():
    text = inline.MAIN_TF.read_text()
    line = next(x for x in text.splitlines() if x.strip().startswith("default_job_command"))
    assert '["python3", "-I", "-S", "-c", local.item_reader, "Ref::items_uri", "--", "echo"]' in line


def test_program_is_small_and_python_38_grammar():
    program = inline.terraform_program()
    # ECS allows 8,192 characters of overrides per task: keep >= 1 KiB for the URI and the environment.
    assert len(program) <= 7 * 1024, len(program)
    assert "Ref::" not in program
    ast.parse(inline.unpack(program), feature_version=(3, 8))


def _batch(tmp_path: Path, items: list[bytes]) -> Path:
    path = tmp_path / "batch-000000.jsonl"
    body, index = batches.encode(items)
    path.write_bytes(body)
    Path(batches.index_key(str(path))).write_bytes(index)
    return path


@pytest.mark.parametrize("python", _interpreters())
def test_inline_reader_runs_on_a_bare_interpreter(tmp_path, python):
    batch = _batch(tmp_path, [b'{"index":%d}' % i for i in range(5)])
    command = [python, "-I", "-S", "-c", inline.terraform_program(), batch.as_uri(), "--", "echo", "got"]
    env = {"AWS_BATCH_JOB_ARRAY_INDEX": "3", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, 'got {"index":3}\n', "")
