"""The reports people read, rendered from a capsule alone.

- methods_report: report.html (the methods report), and the entry points below for every format
- methods_text: the methods text, as methods.md and methods.tex
- verification: verification.html, the result of `capsule verify`
- graph_layout, graph: the provenance graph, laid out, then drawn as SVG
- lineage: which code and data made each output (`capsule show`)
- facts: the wording and facts the pages share
"""

from __future__ import annotations

from capsule.report.methods_report import (
    DERIVED_FILES,
    ReportFormat,
    render_report,
    write_report,
)

__all__ = ["DERIVED_FILES", "ReportFormat", "render_report", "write_report"]
