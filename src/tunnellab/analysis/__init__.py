"""Analysis of many runs: sources → one tidy table → the paper's statistics, tables, figures.

- :mod:`~tunnellab.analysis.table`: the tidy table (one row per backbone × OOD dataset)
- :mod:`~tunnellab.analysis.run_sources`, :mod:`~tunnellab.analysis.wandb_source`,
  :mod:`~tunnellab.analysis.paper_results`: sweep dirs, W&B projects, the released results file;
  :mod:`~tunnellab.analysis.load`: a ``source=`` name → one of them
- :mod:`~tunnellab.analysis.stats`: group means with CIs, paired Wilcoxon tests, Cliff's δ,
  tunnel-strength bins; :mod:`~tunnellab.analysis.shap_slopes`: SHAP slopes
- :mod:`~tunnellab.analysis.figures`, :mod:`~tunnellab.analysis.curves`,
  :mod:`~tunnellab.analysis.run_curves`: figures; :mod:`~tunnellab.analysis.report`: report.md
- :mod:`~tunnellab.analysis.study`: ``analyze()`` ties them together (``tunnellab-analyze``) into
  an :class:`~tunnellab.analysis.result.AnalysisResult`
"""
