"""Phases are transactions (crisp.staging): what a phase writes through crisp.files becomes visible
only when the phase succeeds; reads within the phase see its own writes; a failure at any point
(a cell, a commit that cannot be done, a full disk) leaves every earlier file byte-identical; an
error writing a file names the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from crisp import files, staging
from test_runner import build_project, crisp, latest_record, use_project

OUTPUTS = ("data", "out")


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under the project's data and output folders."""
    found = {}
    for folder in OUTPUTS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                found[path.relative_to(root).as_posix()] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return found


def no_staging_left(root: Path) -> bool:
    """No staged file or commit plan left anywhere in the project."""
    names = [p.name for p in root.rglob("*")]
    return not any(n in (staging.STAGED, staging.PLAN) or n.endswith(staging.TEMP) for n in names)


@pytest.fixture
def ran(project: Path) -> Path:
    """The three-phase project after one successful run."""
    assert crisp("run") == 0
    return project


@pytest.mark.parametrize("payload", ["fail", "obstruct"])
def test_a_failed_phase_changes_no_file(
    ran: Path, capsys: pytest.CaptureFixture[str], payload: str
) -> None:
    """01_middle fails after writing some outputs (a cell raises), or when its outputs cannot be
    put in place (a folder where one goes): none of them replaces what was there."""
    before = snapshot(ran)
    capsys.readouterr()
    assert crisp("run", "--from", "middle", "--set", f"middle.payload={payload}") == 1
    out = capsys.readouterr().out
    after = snapshot(ran)
    if payload == "obstruct":  # the folder the cell made is the only change
        assert (ran / "data" / "interim" / "new.txt").is_dir()
        assert "01_middle failed: CommitError: " in out and "nothing was changed" in out
        assert "data/interim/new.txt" in out
    assert after == before
    middle = latest_record(ran)["phases"][0]
    assert middle["status"] == "failed"
    assert no_staging_left(ran)


def test_what_a_phase_writes_is_visible_when_it_succeeded(ran: Path) -> None:
    """The new outputs appear together, after the phase; later phases read them."""
    assert crisp("run", "--from", "middle", "--set", "middle.count=3") == 0
    assert (ran / "data" / "interim" / "echo.txt").read_text() == "echo 3"
    assert (ran / "out" / "c.txt").read_text() == "abc hello" * 3 + "!"
    writes = {w["path"] for w in latest_record(ran)["phases"][0]["writes"]}
    assert {"data/interim/b.txt", "data/interim/echo.txt"} <= writes
    assert no_staging_left(ran)


# ------------------------------------------------------------------ crisp.files on its own


@pytest.fixture
def in_phase(tmp_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Inside tmp_project, pretend a phase of a run is running; its folder in the run."""
    run_dir = tmp_project / "reports" / "run-1"
    monkeypatch.setenv("CRISP_RUN_DIR", str(run_dir))
    monkeypatch.setenv("CRISP_PHASE", "05_deployment")
    return run_dir / "05_deployment"


def test_staged_writes_reads_listing_and_deletions(tmp_project: Path, in_phase: Path) -> None:
    registry = tmp_project / "models" / "registry"
    (registry / "v0001").mkdir(parents=True)
    (registry / "v0001" / "model.bin").write_bytes(b"old")
    (tmp_project / "models" / "production.json").write_text('{"version": "v0001"}')
    files.atomic_write_text(registry / "v0002" / "model.bin", "new")
    files.atomic_write_text(tmp_project / "models" / "production.json", '{"version": "v0002"}')
    files.remove(registry / "v0001")
    # Nothing is visible in the project yet; the phase sees its own changes.
    assert not (registry / "v0002").exists() and (registry / "v0001" / "model.bin").exists()
    assert [p.name for p in files.list_dir(registry)] == ["v0002"]
    assert files.is_file(registry / "v0002" / "model.bin")
    assert not files.is_file(registry / "v0001" / "model.bin")
    assert files.read_json(tmp_project / "models" / "production.json") == {"version": "v0002"}
    # Run records are written at once.
    files.atomic_write_text(in_phase / "quality.json", "[]")
    assert (in_phase / "quality.json").is_file()
    staging.commit(in_phase, tmp_project)
    assert sorted(p.name for p in registry.iterdir()) == ["v0002"]
    assert (registry / "v0002" / "model.bin").read_text() == "new"
    assert json.loads((tmp_project / "models" / "production.json").read_text()) == {
        "version": "v0002"
    }
    assert no_staging_left(tmp_project)


def test_a_commit_cut_short_is_finished_or_undone(tmp_project: Path, in_phase: Path) -> None:
    """`recover` completes a commit whose first step was done, and undoes one that was not."""
    target = tmp_project / "artifacts" / "a.txt"
    target.parent.mkdir(parents=True)
    target.write_text("old")
    for ready, expected in ((False, "old"), (True, "new")):
        files.atomic_write_text(target, "new")
        temp = target.with_name(f".a.txt{staging.TEMP}")
        os.replace(in_phase / staging.STAGED / "artifacts" / "a.txt", temp)  # first step
        plan = {"ready": ready, "moves": [[str(temp), str(target)]], "deletions": []}
        (in_phase / staging.PLAN).write_text(json.dumps(plan))
        staging.recover(in_phase, tmp_project)
        assert target.read_text() == expected
        assert no_staging_left(tmp_project)


def test_a_write_into_a_folder_that_is_a_file_fails_in_the_phase(
    tmp_project: Path, in_phase: Path
) -> None:
    (tmp_project / "out").write_text("a file, not a folder")
    with pytest.raises(NotADirectoryError) as info:
        files.atomic_write_text(tmp_project / "out" / "c.txt", "x")
    assert info.value.filename == str(tmp_project / "out")


def test_a_failed_write_names_the_file(tmp_path: Path) -> None:
    """Any error writing a file (here: larger than the process may write) names that file."""
    target = tmp_path / "models" / "big.bin"
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from crisp import files\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    files.atomic_write_bytes(Path(sys.argv[1]), b'x' * 100_000)\n"
        "except OSError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"[Errno 27] File too large: '{target}'"
    assert list(target.parent.iterdir()) == [], "no temporary file left behind"


@pytest.fixture
def small_disk(tmp_path: Path) -> Path:
    """A 3 MB file system (tmpfs), where root may mount one; the test is skipped elsewhere."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_fails_the_phase_names_the_file_and_changes_nothing(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = use_project(build_project(small_disk / "project"), monkeypatch)
    assert crisp("run") == 0
    before = snapshot(root)
    capsys.readouterr()
    assert crisp("run", "--from", "middle", "--set", "middle.payload=big") == 1  # 4 MB: no room
    out = capsys.readouterr().out
    assert "OSError: [Errno 28] No space left on device: " in out
    assert f"{root}/data/interim/big.txt" in out
    assert snapshot(root) == before
    assert no_staging_left(root)
