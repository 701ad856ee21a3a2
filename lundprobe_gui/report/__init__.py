"""The analysis of a reader study, from the app's own outputs: tables, statistics, figures and one HTML page.

``lundprobe-gui study report`` (docs/study-report.md) runs the per-patient analyses on the batch
framework (:mod:`lundprobe_gui.batch`) over the study's edits laid over the dataset
(:mod:`lundprobe_gui.study.overlay`), then computes the statistics in this process:

* :mod:`.build`: what is analysed, the analyses, and every table;
* :mod:`.edit_stats`: the histogram of edits over the uncertainty, the low-uncertainty ratio;
* :mod:`.compare_stats`: step tests, kappa, STAPLE and variability summaries;
* :mod:`.flow`: the flow of cases;
* :mod:`.figures`, :mod:`.methods`, :mod:`.html`: figures, generated text, the page;
* :mod:`.run`: the whole report into one folder.

matplotlib, statsmodels and scipy are imported where they are used, never at import time.
"""

from __future__ import annotations

from .build import ReportSource, prepare_source
from .common import ReportOptions
from .run import ReportResult, run_report

__all__ = ["ReportOptions", "ReportResult", "ReportSource", "prepare_source", "run_report"]
