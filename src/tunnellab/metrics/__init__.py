"""Metrics computed from probe-accuracy curves."""

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
    "normalised_curve",
    "ood_retained",
    "pearson_id_ood",
    "tunnel_metrics",
    "tunnel_start",
    "tunnel_strength",
]
