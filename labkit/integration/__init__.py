"""Integration: how other systems use a model, such as a batch job scoring a file."""

from labkit.integration.scoring import ScoringReport, score_file

__all__ = ["ScoringReport", "score_file"]
