"""Figure 3: how many words, and how long n-grams, does the linear SVM need?

Sweeps the vocabulary size (TF-IDF `max_features`) and the word n-gram range of the linear SVM,
the fast model of Table 1, and plots test accuracy against the vocabulary actually used.

Reads:  data/utterances.csv
Writes: figures/fig3_ngram_sweep.svg
"""

from __future__ import annotations

import common
import matplotlib.pyplot as plt
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline

FIG3_SVG = common.FIGURES_DIR / "fig3_ngram_sweep.svg"
MODEL = "Linear SVM"
MAX_FEATURES: list[int | None] = [30, 100, 300, 1000, 3000, 10000, None]  # None: every n-gram seen
NGRAM_RANGES: list[tuple[int, int]] = [(1, 1), (1, 2), (1, 3)]
NGRAM_LABELS = {(1, 1): "unigrams", (1, 2): "uni + bigrams", (1, 3): "uni + bi + trigrams"}


def sweep(data: common.Split) -> dict[tuple[int, int], list[tuple[int, float]]]:
    """Return, per n-gram range, (vocabulary size, test accuracy) for each `max_features`."""
    results: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for ngram_range in NGRAM_RANGES:
        points: list[tuple[int, float]] = []
        for max_features in MAX_FEATURES:
            vectorizer = common.word_ngrams(max_features=max_features, ngram_range=ngram_range)
            pipeline = Pipeline([("features", vectorizer), ("model", common.MODELS[MODEL]())])
            pipeline.fit(data.train_texts, data.train_labels)
            accuracy = float(accuracy_score(data.test_labels, pipeline.predict(data.test_texts)))
            vocabulary_size = len(vectorizer.vocabulary_)
            if points and points[-1][0] == vocabulary_size:
                continue  # max_features above the whole vocabulary: the same model again
            points.append((vocabulary_size, accuracy))
            print(f"ngram_range={ngram_range} vocabulary={vocabulary_size:>6} acc={accuracy:.4f}")
        results[ngram_range] = points
    return results


def plot_sweep(results: dict[tuple[int, int], list[tuple[int, float]]]) -> None:
    """Line plot of accuracy against vocabulary size (log scale), one line per n-gram range."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for ngram_range, points in results.items():
        sizes = [size for size, _ in points]
        accuracies = [accuracy for _, accuracy in points]
        ax.plot(sizes, accuracies, marker="o", label=NGRAM_LABELS[ngram_range])
        ax.annotate(
            f"all {sizes[-1]:,}",
            (sizes[-1], accuracies[-1]),
            textcoords="offset points",
            xytext=(0, -14),
            ha="center",
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_xlabel("Vocabulary size (max_features, log scale)")
    ax.set_ylabel("Accuracy on the test split")
    ax.set_title(f"Vocabulary size and n-gram range ({MODEL}, word TF-IDF)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(title="Word n-grams", loc="lower right")
    fig.tight_layout()
    common.FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIG3_SVG)
    plt.close(fig)


def main() -> None:
    """Run the sweep and write Figure 3."""
    texts, labels = common.load_utterances()
    plot_sweep(sweep(common.split(texts, labels)))


if __name__ == "__main__":
    main()
