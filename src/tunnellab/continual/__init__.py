"""Continual learning: two tasks, extractor/tunnel swaps, the paper's forgetting table."""
