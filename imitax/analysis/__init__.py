"""Evaluation aggregates: human-normalised Atari scores and their interval estimates over games and seeds
(Agarwal et al. 2021), and the report over run directories behind `imitax report`."""

from imitax.analysis.aggregate import METRICS, Aggregates, Estimate, aggregate, plot_aggregates
from imitax.analysis.scores import (
    REFERENCE_SCORES,
    NoReferenceScoresError,
    has_reference_scores,
    human_normalized,
    reference_scores,
)

__all__ = [
    "METRICS",
    "REFERENCE_SCORES",
    "Aggregates",
    "Estimate",
    "NoReferenceScoresError",
    "aggregate",
    "has_reference_scores",
    "human_normalized",
    "plot_aggregates",
    "reference_scores",
]
