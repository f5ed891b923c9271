"""Repository hygiene: what ships cites only what a user has.

Comments, hints and docs may cite public documentation (URLs) or files in this repository, never notes
that live outside it: a reader of a fresh clone cannot open them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Names of notes that were never part of the repository (cited by earlier comments).
OUTSIDE_NOTES = ("toolchain.md", "sfn-batch-facts.md", "CONTRACT.md", "anchors.md", "design-notes.md")
# Phrases that only make sense with such notes at hand.
OUTSIDE_PHRASES = re.compile(r"shared/reference|product card|§")
# A relative path that climbs out of its folder: ../x, ../../x/y.z
RELATIVE = re.compile(r"(?<![\w.])((?:\.\./)+[\w.-]+(?:/[\w.-]+)*)")


def _git(*args: str) -> list[str]:
    out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line]


@pytest.fixture(scope="module")
def tracked() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    return _git("ls-files")


def _exists_in_repo(target: Path, present: set[str]) -> bool:
    """``target`` (absolute) is a file or folder of the checkout, or lies in a git-ignored runtime folder."""
    try:
        rel = target.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return False  # outside the repository
    if rel in present or any(path.startswith(rel + "/") for path in present):
        return True
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", rel], cwd=REPO, check=False)
    return ignored.returncode == 0  # e.g. .fanout/build/generator.zip, created at run time


def _problems(path: str, text: str, present: set[str], names: set[str]) -> list[str]:
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{path}:{number}"
        for note in OUTSIDE_NOTES:
            if note in line and note not in names:
                problems.append(f"{where}: cites {note}, which is not in the repository")
        for match in OUTSIDE_PHRASES.finditer(line):
            problems.append(f"{where}: {match.group(0)!r} points at notes outside the repository")
        for match in RELATIVE.finditer(line):
            cited = match.group(1)
            candidates = (REPO / path).parent / cited, REPO / cited
            if not any(_exists_in_repo(candidate, present) for candidate in candidates):
                problems.append(f"{where}: {cited} is not a path in the repository")
    return problems


def test_nothing_outside_tests_cites_a_path_outside_the_repository(tracked):
    # Files being added (untracked, not ignored) count as present, so a new file can be cited at once.
    present = set(tracked) | set(_git("ls-files", "--others", "--exclude-standard"))
    names = {Path(path).name for path in present}
    problems: list[str] = []
    # A file shared through links (terraform/modules/context.tf) is read where it is linked: its
    # relative paths mean what they mean from each link's folder, and each link is checked.
    linked = {(REPO / path).resolve() for path in tracked if (REPO / path).is_symlink()}
    for path in tracked:
        if path.startswith("tests/") or not (REPO / path).is_file():
            continue
        if (REPO / path).resolve() in linked and not (REPO / path).is_symlink():
            continue
        try:
            text = (REPO / path).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files cite nothing
        problems += _problems(path, text, present, names)
    assert not problems, (
        "cite the public AWS documentation URL or a name in the repository instead:\n" + "\n".join(problems)
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("see ../shared/reference/toolchain.md item 7", 3),  # note name, phrase, and the path
        ("Sources: sfn-batch-facts.md §0", 2),
        ("rules in CONTRACT.md", 1),
        ('file("${path.module}/../../aws_limits.json")', 0),  # resolves inside the repository
        ("https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html", 0),
    ],
)
def test_the_check_catches_what_it_should(line, expected):
    present = {"terraform/aws_limits.json", "terraform/modules/batch/main.tf"}
    problems = _problems("terraform/modules/batch/main.tf", line, present, {"aws_limits.json", "main.tf"})
    assert len(problems) == expected, problems
