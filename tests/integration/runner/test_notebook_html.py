"""A phase's HTML report is nbconvert's lab page (HTMLExporter), built the faster way of
crisp.notebook_html: the same tags, attributes and text, on the real reports of a pipeline run
and on a notebook written to break the shortcuts (markup in code, images with and without alt text,
scripts in markdown and outputs)."""

from __future__ import annotations

import nbformat
import pytest
from bs4 import BeautifulSoup
from crisp.notebook_html import NO_ALT_TEXT
from report_driver import both, page

from shared_project import trained

pytestmark = pytest.mark.slow
PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_the_reports_of_a_run_are_nbconverts_lab_pages(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    run_dir = trained(tmp_path_factory) / "reports" / "latest"
    executed = sorted(run_dir.glob("[0-9][0-9]_*.ipynb"))
    assert len(executed) >= 6, executed
    images = 0
    for path in executed:
        ours, theirs = both(nbformat.read(path, as_version=4))
        assert page(ours) == page(theirs), f"{path.name}: the page differs from nbconvert's"
        images += ours.count("<img")
    assert images > 5, "the run's reports hold almost no figures: nothing was compared"


def test_a_notebook_built_to_trip_the_shortcuts_gives_nbconverts_page() -> None:
    markup = "</div><script>alert('code')</script><img src=x onerror=alert(1)>"
    nb = nbformat.v4.new_notebook(
        metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}},
        cells=[
            nbformat.v4.new_markdown_cell("# Title\n\n<script>alert('markdown')</script>"),
            nbformat.v4.new_code_cell(f'text = "{markup}"  # <b>not bold</b>'),
            nbformat.v4.new_code_cell(
                "display(figure)",
                outputs=[
                    nbformat.v4.new_output(
                        "display_data", data={"image/png": PNG, "text/plain": "<Figure>"}
                    ),
                    nbformat.v4.new_output(
                        "execute_result",
                        data={
                            "text/html": (
                                f'<div class="jp-OutputArea-output"><img src="data:image/png;'
                                f'base64,{PNG}" alt="given"><img src="x.png"/></div>'
                            ),
                            "text/plain": "table",
                        },
                        execution_count=2,
                    ),
                    nbformat.v4.new_output("stream", name="stdout", text=f"{markup}\n"),
                ],
                execution_count=2,
            ),
        ],
    )
    ours, theirs = both(nb)
    assert page(ours) == page(theirs)
    soup = BeautifulSoup(ours, features="html.parser")
    alts = [img.get("alt") for img in soup.find_all("img")]
    assert alts.count("given") == 1 and alts.count(NO_ALT_TEXT) == len(alts) - 1, alts
    # The code cell's markup is shown as text, never becomes tags.
    assert "alert('code')" in soup.get_text()
    assert not [s for s in soup.find_all("script") if "alert('code')" in s.get_text()]
    assert not [b for b in soup.find_all("b") if "not bold" in b.get_text()]
