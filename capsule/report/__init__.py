"""The reports people read, rendered from a capsule alone.

- methods_report: report.html, and `capsule report` in every format (html, md, tex)
- methods_text: the methods text, as methods.md and methods.tex
- verification: verification.html, the result of `capsule verify`
- graph_layout, graph: the provenance graph, laid out, then drawn as SVG
- lineage: which code and data made each output (`capsule show`)
- facts: the wording and facts the pages share
"""
