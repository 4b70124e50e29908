"""Randomness: one estimator without random_state; every other draw is seeded."""

import random

import numpy as np
from sklearn.ensemble import RandomForestClassifier as RF
from sklearn.model_selection import KFold, train_test_split

random.seed(1)
np.random.seed(2)
rng = np.random.default_rng(3)

jitter = random.random()  # clean: seeded above
noise = np.random.normal(size=3)  # clean: seeded above
draws = rng.integers(0, 10, size=3)  # clean: a seeded generator
model = RF(n_estimators=10, random_state=0)  # clean: seeded
folds = KFold(n_splits=5)  # clean: no shuffling
halves = train_test_split([1, 2, 3, 4], test_size=0.5, random_state=0)  # clean: seeded
forest = RF(n_estimators=10)  # DEFECT unseeded-random
