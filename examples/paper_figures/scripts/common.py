"""Shared pieces of the intent-classification study: data, split, features and models.

The numbered scripts run from the analysis root (`python scripts/01_compare_models.py`), which
puts this folder first on `sys.path`, so they `import common`. Every random choice is seeded
and every model runs on one core, so a rerun gives the same numbers and the same figures.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parent.parent
DATA_CSV = ROOT / "data" / "utterances.csv"
FIGURES_DIR = ROOT / "figures"
TABLES_DIR = ROOT / "tables"
TABLE1_CSV = TABLES_DIR / "table1_metrics.csv"

RANDOM_STATE = 42
TEST_SIZE = 0.2
FIGURE_DPI = 150

# Words are runs of letters and digits, one character long included ("a", "i", "7").
WORD_PATTERN = r"(?u)\b\w+\b"

BASELINE = "Naive Bayes"
# One colour per feature set, used by every figure that compares them.
FEATURE_COLOURS = {"word n-grams": "#4C72B0", "char n-grams": "#DD8452"}


class Split(NamedTuple):
    """The fixed train/test split of the corpus (80/20, stratified by intent)."""

    train_texts: list[str]
    test_texts: list[str]
    train_labels: list[str]
    test_labels: list[str]


def load_utterances(path: Path = DATA_CSV) -> tuple[list[str], list[str]]:
    """Return the texts and intents of `data/utterances.csv`, in file order.

    Raises FileNotFoundError if the corpus is missing (run `python data/make_utterances.py`).
    """
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [row["intent"] for row in rows]


def split(texts: list[str], labels: list[str]) -> Split:
    """Split the corpus into the study's fixed, stratified train and test sets."""
    train_texts, test_texts, train_labels, test_labels = train_test_split(
        texts, labels, test_size=TEST_SIZE, stratify=labels, random_state=RANDOM_STATE
    )
    return Split(train_texts, test_texts, train_labels, test_labels)


def word_ngrams(
    max_features: int | None = None, ngram_range: tuple[int, int] = (1, 2)
) -> TfidfVectorizer:
    """TF-IDF of word n-grams (unigrams and bigrams by default)."""
    return TfidfVectorizer(
        analyzer="word",
        ngram_range=ngram_range,
        max_features=max_features,
        token_pattern=WORD_PATTERN,
        sublinear_tf=True,
    )


def char_ngrams() -> TfidfVectorizer:
    """TF-IDF of character 2- to 4-grams inside word boundaries: robust to typos."""
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True)


FEATURE_SETS: dict[str, Callable[[], TfidfVectorizer]] = {
    "word n-grams": word_ngrams,
    "char n-grams": char_ngrams,
}

MODELS: dict[str, Callable[[], ClassifierMixin]] = {
    BASELINE: lambda: MultinomialNB(),
    "Random Forest": lambda: RandomForestClassifier(
        n_estimators=100, random_state=RANDOM_STATE, n_jobs=1
    ),
    "Linear SVM": lambda: LinearSVC(C=0.5, random_state=RANDOM_STATE),
}


def make_pipeline(model: str, features: str) -> Pipeline:
    """Return an unfitted vectorizer + classifier pipeline for the named model and features.

    Raises KeyError for a model or feature set that is not in MODELS or FEATURE_SETS.
    """
    return Pipeline([("features", FEATURE_SETS[features]()), ("model", MODELS[model]())])


def read_table1(path: Path = TABLE1_CSV) -> list[dict[str, str]]:
    """Return the rows of Table 1 as written by `01_compare_models.py`.

    Raises FileNotFoundError if step 01 has not run yet.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def best_configuration(table: list[dict[str, str]]) -> tuple[str, str]:
    """Return (model, features) of the row with the highest macro-F1; ties go to accuracy."""
    best = max(table, key=lambda row: (float(row["macro_f1"]), float(row["accuracy"])))
    return best["model"], best["features"]
