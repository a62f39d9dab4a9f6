"""Metrics computed from probe-accuracy curves, and per-layer representation diagnostics."""

from tunnellab.metrics.representation import nc1, numerical_rank, tap_diagnostics
from tunnellab.metrics.tunnel import (
    STRENGTH_BINS,
    TunnelMetrics,
    check_curve,
    id_ood_alignment,
    id_saturation_start,
    normalised_curve,
    ood_retained,
    pearson_id_ood,
    tunnel_metrics,
    tunnel_start,
    tunnel_strength,
)

__all__ = [
    "STRENGTH_BINS",
    "TunnelMetrics",
    "check_curve",
    "id_ood_alignment",
    "id_saturation_start",
    "nc1",
    "normalised_curve",
    "numerical_rank",
    "ood_retained",
    "pearson_id_ood",
    "tap_diagnostics",
    "tunnel_metrics",
    "tunnel_start",
    "tunnel_strength",
]
