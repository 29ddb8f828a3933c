"""``optcompare report``: every statistic of an experiment, its figures and one HTML page.

Compute first, render second:

- :func:`analyse` (:mod:`analysis.report_data`) computes a frozen :class:`ReportData`: the
  rankings at the budget K, budget curves, inclusion verdicts, speed, robustness, search-space
  diagnostics, reruns, and the figures to draw, as data. It neither draws nor writes.
- :func:`write_report` (:mod:`analysis.report_page`) draws the figures (:mod:`analysis.figures`,
  PNG and PDF) and renders ``index.html`` from the Jinja2 template
  ``analysis/templates/report.html``: a self-contained page, tables inline, figures embedded as
  base64 PNG, no server or network needed to open it.
"""

from __future__ import annotations

from .report_data import ReportData, analyse, default_budgets, plan_figures
from .report_page import ReportFiles, render_page, write_report

__all__ = [
    "ReportData",
    "ReportFiles",
    "analyse",
    "default_budgets",
    "plan_figures",
    "render_page",
    "write_report",
]
