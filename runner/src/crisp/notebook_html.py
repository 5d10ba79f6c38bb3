"""The HTML page of an executed notebook: nbconvert's lab page, built without two passes over the
whole page that cost a run about a fifth of its runner's CPU time.

- Code cells: pygments escapes the source it highlights; the lab template then cleans that markup
  with bleach again (`clean_html`). The `crisp_lab` template shows the highlighted source as is.
- nbconvert's HTMLExporter parses the finished page with BeautifulSoup to give images without
  alternative text a default one and to make inputs and outputs focusable (tabindex). Here the same
  attributes go into the markup directly, on the tags the lab template writes.

The page is the same, tag for tag and attribute for attribute (tested against HTMLExporter).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nbconvert import HTMLExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

TEMPLATES = Path(__file__).parent / "templates" / "nbconvert"
NO_ALT_TEXT = "No description has been provided for this image"  # HTMLExporter's own default
# An <img> tag without an alt attribute (nbconvert: `img:not([alt])`).
_IMAGE_WITHOUT_ALT = re.compile(r"<img\b((?:(?!\salt\s*=)[^>])*?)(\s*/?)>", re.IGNORECASE)
# A <div> whose class list holds one of the lab template's input or output wrappers.
_FOCUSABLE_DIV = re.compile(
    r'(<div class="(?:[^"]*\s)?jp-(?:Cell-inputWrapper|OutputArea-output)(?:\s[^"]*)?")'
)


class ReportExporter(HTMLExporter):
    """HTMLExporter for run reports: lab template, images embedded, no whole-page re-parse."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            template_name="crisp_lab",
            extra_template_basedirs=[str(TEMPLATES)],
            embed_images=True,
            **kwargs,
        )

    def from_notebook_node(  # type: ignore[override]
        self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        """The page of `nb`: HTMLExporter's filters and template, attributes added in place."""
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name"))
        resources = self._init_resources(resources)
        self.register_filter(
            "highlight_code",
            self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)),
        )
        self.register_filter(
            "filter_data_type",
            WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            ),
        )
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return accessible(html), resources


def accessible(html: str) -> str:
    """`html` with a default alt text on images that have none, and focusable inputs and outputs
    (what HTMLExporter adds after parsing the page)."""
    html = _IMAGE_WITHOUT_ALT.sub(rf'<img\1 alt="{NO_ALT_TEXT}"\2>', html)
    return _FOCUSABLE_DIV.sub(r'\1 tabindex="0"', html)
