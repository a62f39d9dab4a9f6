"""Analysis of probe results: curves, tables and plots."""
