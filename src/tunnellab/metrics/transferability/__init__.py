"""Training-free layer scores: rank layers by how well their features transfer, without a probe.

``ClassStats`` is one streaming pass of per-class counts, means and variances and the total
covariance (float64); the H-score and GBC are computed from it. LogME, TransRate and the
leave-one-out kNN accuracy take the features in memory; NCTI streams its class statistics and
posteriors and ranks candidates together (``ncti_combine``). Formulas and papers: docs/scores.md.
"""

from tunnellab.metrics.transferability.gbc import bhattacharyya_coefficients, gbc
from tunnellab.metrics.transferability.hscore import hscore_regularised
from tunnellab.metrics.transferability.knn import loo_knn_accuracy
from tunnellab.metrics.transferability.logme import logme, logme_evidence
from tunnellab.metrics.transferability.ncti import NCTI_TERMS, ncti_combine, ncti_components
from tunnellab.metrics.transferability.stats import ClassStats
from tunnellab.metrics.transferability.transrate import coding_rate, transrate

__all__ = [
    "NCTI_TERMS",
    "ClassStats",
    "bhattacharyya_coefficients",
    "coding_rate",
    "gbc",
    "hscore_regularised",
    "logme",
    "logme_evidence",
    "loo_knn_accuracy",
    "ncti_combine",
    "ncti_components",
    "transrate",
]
