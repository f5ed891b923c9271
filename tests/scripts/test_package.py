"""Packager: same bytes from any checkout, no-op when unchanged, new hash when content changes."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from fanout_tools import package
from fanout_tools.cli import main
from fanout_tools.errors import ConfigError
from fanout_tools.paths import lambda_dir

SOURCE = lambda_dir() / "generator"


def copy_source(dest: Path, *, umask: int, mode: int, mtime: float) -> Path:
    old = os.umask(umask)
    try:
        shutil.copytree(SOURCE, dest, ignore=shutil.ignore_patterns("__pycache__"))
        (dest / "__pycache__").mkdir()
        (dest / "__pycache__" / "handler.cpython-311.pyc").write_bytes(os.urandom(64))
        (dest / "stray.pyc").write_bytes(b"x")
    finally:
        os.umask(old)
    for path in dest.rglob("*"):
        if path.is_file():
            path.chmod(mode)
            os.utime(path, (mtime, mtime))
    return dest


def test_two_checkouts_give_identical_bytes(tmp_path):
    a = copy_source(tmp_path / "checkout-a" / "generator", umask=0o022, mode=0o644, mtime=1_000_000_000)
    b = copy_source(tmp_path / "elsewhere" / "deep" / "gen", umask=0o077, mode=0o755, mtime=1_700_000_000)
    first = package.build(a, tmp_path / "out-a" / "generator.zip")
    second = package.build(b, tmp_path / "out-b" / "generator.zip")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.base64_sha256 == second.base64_sha256
    with zipfile.ZipFile(first.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) and "handler.py" in names and "capacity.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos if not i.is_dir()} == {0o100644}


def test_base64_sha256_is_what_terraform_filebase64sha256_gives(tmp_path):
    result = package.build(SOURCE, tmp_path / "generator.zip")
    digest = hashlib.sha256((tmp_path / "generator.zip").read_bytes()).digest()
    assert result.base64_sha256 == base64.b64encode(digest).decode()
    assert result.size == (tmp_path / "generator.zip").stat().st_size


def test_unchanged_rebuild_is_a_no_op(tmp_path):
    src = copy_source(tmp_path / "src", umask=0o022, mode=0o644, mtime=1_000_000_000)
    dest = tmp_path / "generator.zip"
    assert package.build(src, dest).changed
    before = dest.stat().st_mtime_ns
    os.utime(src / "handler.py", None)  # a touch is not a content change
    again = package.build(src, dest)
    assert not again.changed
    assert dest.stat().st_mtime_ns == before


def test_content_change_changes_the_hash_and_a_damaged_zip_is_rebuilt(tmp_path):
    src = copy_source(tmp_path / "src", umask=0o022, mode=0o644, mtime=1_000_000_000)
    dest = tmp_path / "generator.zip"
    first = package.build(src, dest)
    (src / "handler.py").write_text((src / "handler.py").read_text() + "\n# changed\n")
    second = package.build(src, dest)
    assert second.changed and second.base64_sha256 != first.base64_sha256
    assert second.content_hash != first.content_hash
    dest.write_bytes(b"garbage")
    assert package.build(src, dest).changed


HASH = "--hash=sha256:" + "0" * 64


def fake_pip(calls: list[str]):
    """Stands in for pip: records the requirements it was given and installs a small package, a console
    script naming this interpreter and pip's installation records, as pip --target does."""

    def install(requirements_file: Path, target: Path) -> None:
        calls.append(requirements_file.read_text())
        (target / "example_lib").mkdir(parents=True)
        (target / "example_lib" / "__init__.py").write_text("VERSION = '1.2.3'\n")
        (target / "example_lib-1.2.3.dist-info").mkdir()
        (target / "example_lib-1.2.3.dist-info" / "METADATA").write_text("Name: example-lib\n")
        (target / "example_lib-1.2.3.dist-info" / "RECORD").write_text(f"bin/example,sha256={target}\n")
        (target / "example_lib-1.2.3.dist-info" / "INSTALLER").write_text("pip\n")
        (target / "example_lib-1.2.3.dist-info" / "REQUESTED").write_text("")
        (target / "bin").mkdir()
        (target / "bin" / "example").write_text(f"#!{sys.executable}\n")

    return install


def test_requirements_are_installed_and_zipped_without_scripts_or_install_records(tmp_path, monkeypatch):
    src = copy_source(tmp_path / "src", umask=0o022, mode=0o644, mtime=1_000_000_000)
    (src / "requirements.txt").write_text(f"# deps\nexample-lib==1.2.3 \\\n    {HASH}  # pinned\n")
    calls: list[str] = []
    monkeypatch.setattr(package, "_pip_install", fake_pip(calls))
    result = package.build(src, tmp_path / "generator.zip", deps_cache=tmp_path / "cache")
    assert len(calls) == 1 and "example-lib==1.2.3" in calls[0]
    with zipfile.ZipFile(result.path) as archive:
        names = archive.namelist()
    assert "example_lib/" in names and "example_lib/__init__.py" in names
    assert "example_lib-1.2.3.dist-info/METADATA" in names
    assert not [n for n in names if n.startswith("bin/")]
    assert not [n for n in names if n.rsplit("/", 1)[-1] in ("RECORD", "INSTALLER", "REQUESTED")]
    assert "requirements.txt" not in names


def test_installed_requirements_are_reused_until_the_requirements_change(tmp_path, monkeypatch):
    src = copy_source(tmp_path / "src", umask=0o022, mode=0o644, mtime=1_000_000_000)
    (src / "requirements.txt").write_text(f"example-lib==1.2.3 {HASH}\n")
    calls: list[str] = []
    monkeypatch.setattr(package, "_pip_install", fake_pip(calls))
    cache, dest = tmp_path / "cache", tmp_path / "generator.zip"
    first = package.build(src, dest, deps_cache=cache)
    (src / "handler.py").write_text((src / "handler.py").read_text() + "\n# changed\n")
    second = package.build(src, dest, deps_cache=cache)  # source changed, requirements not: no pip
    assert second.changed and second.base64_sha256 != first.base64_sha256 and len(calls) == 1
    fresh = package.build(src, tmp_path / "other.zip", deps_cache=cache)  # a fresh zip, cached deps
    assert fresh.base64_sha256 == second.base64_sha256 and len(calls) == 1
    (src / "requirements.txt").write_text(f"example-lib==1.2.4 {HASH}\n")
    package.build(src, dest, deps_cache=cache)
    assert len(calls) == 2 and "example-lib==1.2.4" in calls[1]
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_unchanged_rebuild_neither_installs_nor_reads_the_dependencies(tmp_path, monkeypatch):
    src = copy_source(tmp_path / "src", umask=0o022, mode=0o644, mtime=1_000_000_000)
    (src / "requirements.txt").write_text(f"example-lib==1.2.3 {HASH}\n")
    monkeypatch.setattr(package, "_pip_install", fake_pip([]))
    dest = tmp_path / "generator.zip"
    package.build(src, dest, deps_cache=tmp_path / "cache")
    monkeypatch.setattr(package, "installed_requirements", lambda *a: pytest.fail("deps must not be read"))
    again = package.build(src, dest, deps_cache=tmp_path / "cache")
    assert not again.changed


def test_pip_installs_exactly_the_hashed_list_for_the_lambda_runtime(tmp_path, monkeypatch):
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        return SimpleNamespace(returncode=0, stderr="")

    monkeypatch.setattr(package.subprocess, "run", run)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"example-lib==1.2.3 {HASH}\n")
    package._pip_install(requirements, tmp_path / "target")
    [command] = commands
    assert command[1:4] == ["-m", "pip", "install"]
    for option in ("--no-deps", "--require-hashes", "--no-compile", "--only-binary=:all:"):
        assert option in command
    pairs = dict(itertools.pairwise(command))
    assert pairs["--platform"] == "manylinux2014_x86_64" and pairs["--python-version"] == "3.12"
    assert pairs["--implementation"] == "cp" and pairs["--requirement"] == str(requirements)
    assert pairs["--target"] == str(tmp_path / "target")


def test_comment_only_requirements_install_nothing(tmp_path, monkeypatch):
    src = copy_source(tmp_path / "src", umask=0o022, mode=0o644, mtime=1_000_000_000)
    (src / "requirements.txt").write_text("# boto3 is in the runtime\n\n")
    monkeypatch.setattr(package, "_pip_install", lambda *a: pytest.fail("pip must not run"))
    assert package.build(src, tmp_path / "generator.zip").changed


def test_unpinned_requirements_are_refused(tmp_path):
    src = copy_source(tmp_path / "src", umask=0o022, mode=0o644, mtime=1_000_000_000)
    (src / "requirements.txt").write_text(f"requests>=2 {HASH}\n")
    with pytest.raises(ConfigError, match="unpinned requirements: requests>=2"):
        package.build(src, tmp_path / "generator.zip")


def test_requirements_without_a_hash_are_refused(tmp_path):
    src = copy_source(tmp_path / "src", umask=0o022, mode=0o644, mtime=1_000_000_000)
    (src / "requirements.txt").write_text(f"example-lib==1.2.3 {HASH}\nrequests==2.32.3\n")
    with pytest.raises(ConfigError, match=re.escape("without --hash: requests==2.32.3")):
        package.build(src, tmp_path / "generator.zip")


def test_cli_reports_path_size_and_hash(tmp_path, capsys):
    out = tmp_path / "g.zip"
    assert main(["package", "--out", str(out)]) == 0
    assert main(["package", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("built:") == 1 and text.count("unchanged:") == 1
    assert "base64 sha256: " in text and f"size: {out.stat().st_size} bytes" in text
