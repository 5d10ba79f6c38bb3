"""The run index and the monitoring history of a real pipeline, as a user sees them in a browser.

A copy of the trained project (phases 00-05 ran) runs again with one modelling parameter changed,
so 00-02 are up to date and 04 compares the new challenger with the production model; then
`crisp monitor` checks two files, one without drift and one with. Pages are opened in headless
Chromium (`--dump-dom`, `--screenshot`); the screenshots are kept under the test's tmp folder.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from shared_project import (
    PACKAGE,
    PROBLEM_TYPE,
    PROJECT,
    SMALL_RUN,
    copy_of_trained,
    crisp,
    env,
)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Background of the verdict banner per tone (templates/index.html.j2).
TONE_BACKGROUND = {
    "good": (0xE9, 0xF6, 0xEC),
    "warning": (0xFD, 0xF3, 0xE3),
    "bad": (0xFB, 0xE9, 0xEC),
}
DECISION_TONE = {"promote": "good", "keep": "warning", "reject": "bad"}


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    pytest.fail("these tests need Chromium: apt-get install -y chromium")


def browse(page: Path, tmp: Path, screenshot: Path | None = None, height: int = 900) -> str:
    """The DOM Chromium builds from `page` (and a screenshot of its first `height` pixels)."""
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    args = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size=1280,{height}",
    ]
    if screenshot is not None:
        done = subprocess.run(
            [*args, f"--screenshot={screenshot}", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert screenshot.is_file(), done.stderr[-2000:]
    dom = subprocess.run(
        [*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    return dom.stdout


def share_of_colour(png: Path, colour: tuple[int, int, int], top: int) -> float:
    """Share of the pixels in the top `top` rows of a screenshot that have `colour`."""
    from PIL import Image

    with Image.open(png) as image:
        region = image.convert("RGB").crop((0, 0, image.width, top))
    counts = {found: count for count, found in region.getcolors(region.width * region.height)}
    return counts.get(colour, 0) / (region.width * region.height)


def text_of(html: str) -> str:
    """The page's text, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The trained copy, run again with modelling.cv_folds changed, then monitored twice."""
    root = copy_of_trained(tmp_path_factory, "browser")
    trained = json.loads((root / "reports" / "latest" / "run.json").read_text())
    result = crisp(root, "run", *SMALL_RUN, "--set=modelling.cv_folds=2")
    assert result.returncode == 0, result.stdout + result.stderr
    rerun = json.loads((root / "reports" / "latest" / "run.json").read_text())
    data = importlib.import_module(f"{PACKAGE}.data")
    files = {}
    for name, shift in (("same", 0.0), ("shifted", 1.5)):
        files[name] = root / "data" / "raw" / f"{name}.csv"
        frame = data.make_demo_data(PROBLEM_TYPE, 400, 7, shift=shift)
        frame.to_csv(files[name], index=False)
    monitors = [crisp(root, "monitor", str(files[name])) for name in ("same", "shifted")]
    return {"root": root, "trained": trained, "rerun": rerun, "monitors": monitors}


def test_a_run_with_the_data_phase_up_to_date_records_the_same_data(project: dict) -> None:
    """The issue's case (`crisp run` then `--set modelling.cv_folds=...`) on the real notebooks."""
    trained, rerun = project["trained"], project["rerun"]
    phases = {p["name"]: p for p in rerun["phases"]}
    assert phases["01_data_understanding"]["status"] == "up to date"
    assert rerun["data_fingerprint"] and rerun["data_fingerprint"] == trained["data_fingerprint"]
    compared = crisp(project["root"], "compare", trained["run_id"], rerun["run_id"])
    assert compared.returncode == 0, compared.stderr
    assert "input data: the same" in compared.stdout and "differs" not in compared.stdout


def test_the_index_opens_with_the_verdict(project: dict, tmp_path: Path) -> None:
    root, rerun, trained = project["root"], project["rerun"], project["trained"]
    evaluation = next(p for p in rerun["phases"] if p["name"] == "04_evaluation")
    decision = evaluation["metrics"]["decision"]
    tone = DECISION_TONE[decision]
    screenshot = tmp_path / "index.png"
    dom = browse(root / "reports" / "latest" / "index.html", tmp_path, screenshot)
    print(f"screenshot: {screenshot}")  # pytest keeps its tmp folders of the last runs

    # The verdict first, in words and in the decision's colour, above the audit detail.
    card = dom[dom.index('id="summary"') : dom.index("Audit detail")]
    assert f'<div class="verdict tone-{tone}">' in card
    assert re.search(rf'<div class="word">{decision}</div>', card)
    assert share_of_colour(screenshot, TONE_BACKGROUND[tone], top=260) > 0.05
    assert dom.index('id="summary"') < dom.index("Audit detail") < dom.index("Lineage")

    # Headline metric against the criterion, the production model and the baseline.
    evaluated = json.loads((root / "artifacts" / "evaluation" / "evaluation.json").read_text())
    metric = evaluated["metric"]
    row = re.search(rf"<tr>\s*<td>test {metric}</td>(.*?)</tr>", card, re.S)
    assert row, f"no headline row for test {metric}"
    cells = [text_of(cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]
    assert cells[0].startswith(f"{evaluated['test_metrics'][metric]:.4g}")
    assert cells[2] == f"{evaluated['decision']['champion']:.4g}", "production model's score"
    assert cells[3] == f"{evaluated['baseline_metrics'][metric]:.4g}"
    assert "this run" in cells[4] and "production" in cells[4] and "baseline" in cells[4]

    # Key figures: the confusion matrix or residuals, embedded; drift share against its threshold.
    figure = "residuals" if PROBLEM_TYPE == "regression" else "confusion matrix"
    assert re.search(
        rf'<img src="data:image/png;base64,[^"]+" alt="{figure} on the test set">', card
    )
    assert "drifted share of features" in card

    # Links that lead somewhere: model card, registry version, previous run, the comparison.
    hrefs = dict(
        (text_of(label).strip(), href)
        for href, label in re.findall(r'<a href="([^"]+)">(.*?)</a>', card)
    )
    index_dir = root / "reports" / rerun["run_id"]
    assert (index_dir / hrefs["model card"]).resolve().is_file()
    assert hrefs[f"previous run {trained['run_id']}"] == f"../{trained['run_id']}/index.html"
    assert hrefs["changes since it"] == "#changes"
    if decision == "promote":
        version = next(p for p in rerun["phases"] if p["name"] == "05_deployment")
        registered = version["metrics"]["production_version"]
        assert (index_dir / hrefs[f"registry {registered}"]).resolve().is_file()
    changes = text_of(dom[dom.index('id="changes"') : dom.index("Audit detail")])
    assert "cv_folds 3 2" in changes and "input data: the same" in changes


def test_monitoring_checks_keep_a_history_of_their_own(project: dict, tmp_path: Path) -> None:
    root, rerun = project["root"], project["rerun"]
    same, shifted = project["monitors"]
    assert same.returncode == 0, same.stdout + same.stderr
    assert shifted.returncode == 1 and "drift status: alert" in shifted.stdout
    assert (root / "reports" / "latest").resolve().name == rerun["run_id"]

    pipeline = crisp(root, "runs").stdout
    checks = crisp(root, "runs", "--monitoring").stdout.splitlines()
    ids = [line.split()[0] for line in checks[1:]]
    assert len(ids) == 2 and not any(run_id in pipeline for run_id in ids)
    assert "failed in 06_monitoring" in checks[1] and "drift_status=alert" in checks[1]
    assert "succeeded" in checks[2] and "drift_status=ok" in checks[2]

    screenshot = tmp_path / "monitoring.png"
    dom = browse(root / "reports" / "monitoring" / "index.html", tmp_path, screenshot)
    print(f"screenshot: {screenshot}")
    rows = re.findall(r'<td class="when">.*?</tr>', dom, re.S)
    assert len(rows) == 2
    assert '<span class="word tone-bad">alert</span>' in rows[0] and "same.csv" not in rows[0]
    assert '<span class="word tone-good">ok</span>' in rows[1] and "same.csv" in rows[1]
    assert "<h2>drifted share of features</h2>" in dom and "threshold 0.3" in dom
    assert len(re.findall(r'<circle [^>]*class="dot-(good|bad)"', dom)) == 2

    # The check's own index: the alert is its verdict, the failed QA check its footnote.
    check = browse(root / "reports" / "monitoring" / ids[0] / "index.html", tmp_path)
    assert '<div class="verdict tone-bad">' in check and '<div class="word">alert</div>' in check
    assert "06_monitoring failed: QualityCheckError" in check


def test_make_diff_takes_the_run_ids_compare_takes(project: dict) -> None:
    """`make diff` with a prefix and `latest`; the injected cell keeps its id between runs."""
    root, trained = project["root"], project["trained"]
    shutil.copy(PROJECT / "Makefile", root / "Makefile")
    venv_bin = PROJECT / ".venv" / "bin"

    def make_diff(a: str, b: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "make",
                "-s",
                "diff",
                f"BIN={venv_bin}",
                "-o",
                f"{venv_bin}/crisp",
                f"A={a}",
                f"B={b}",
            ],
            cwd=root,
            env=env(root),
            capture_output=True,
            text=True,
            timeout=300,
        )

    prefix = trained["run_id"][:-3]
    done = make_diff(prefix, "latest")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"reports/{trained['run_id']}/04_evaluation.ipynb" in done.stdout
    assert "/id:" not in done.stdout, "the injected-parameters cell has one id in every run"
    unknown = make_diff("nope", "latest")
    assert unknown.returncode == 2
    assert "crisp runs: error: no run 'nope' under reports/" in unknown.stderr
