"""A classifier that takes its time: the shadow tests' model of a challenger that is too slow for production."""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class SlowClassifier(ClassifierMixin, BaseEstimator):
    """Answers False after sleeping ``delay`` seconds per call."""

    def __init__(self, delay: float = 0.5) -> None:
        self.delay = delay

    def fit(self, X, y):
        self.classes_ = np.array([False, True])
        return self

    def predict(self, X):
        time.sleep(self.delay)
        return np.zeros(len(X), dtype=bool)

    def predict_proba(self, X):
        time.sleep(self.delay)
        return np.tile([1.0, 0.0], (len(X), 1))
