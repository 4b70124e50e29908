"""Figure 2: confusion matrix of the best configuration of Table 1 on the test split.

The best configuration is the row of Table 1 with the highest macro-F1, so this step runs after
01_compare_models.py.

Reads:  data/utterances.csv, tables/table1_metrics.csv
Writes: figures/fig2_confusion_matrix.png
"""

from __future__ import annotations

import common
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix

FIG2_PNG = common.FIGURES_DIR / "fig2_confusion_matrix.png"


def plot_confusion(matrix: np.ndarray, intents: list[str], title: str, subtitle: str) -> plt.Figure:
    """Draw a confusion matrix of counts, coloured by the share of each true intent's row."""
    row_share = matrix / matrix.sum(axis=1, keepdims=True)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(row_share, cmap="Blues", vmin=0.0, vmax=1.0)
    for true_index, predicted_index in np.ndindex(*matrix.shape):
        count = int(matrix[true_index, predicted_index])
        if count == 0:
            continue
        share = row_share[true_index, predicted_index]
        ax.text(
            predicted_index,
            true_index,
            str(count),
            ha="center",
            va="center",
            fontsize=9,
            color="white" if share > 0.5 else "black",
        )
    ticks = np.arange(len(intents))
    ax.set_xticks(ticks, intents, rotation=40, ha="right")
    ax.set_yticks(ticks, intents)
    ax.set_xlabel("Predicted intent")
    ax.set_ylabel("True intent")
    ax.set_title(f"{title}\n{subtitle}", fontsize=11)
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.set_label("Share of the true intent's utterances")
    fig.tight_layout()
    return fig


def main() -> None:
    """Refit the best configuration on the training split and plot its test confusion matrix."""
    model, features = common.best_configuration(common.read_table1())
    texts, labels = common.load_utterances()
    data = common.split(texts, labels)
    pipeline = common.make_pipeline(model, features)
    pipeline.fit(data.train_texts, data.train_labels)
    predicted = pipeline.predict(data.test_texts)

    intents = sorted(set(labels))
    matrix = confusion_matrix(data.test_labels, predicted, labels=intents)
    accuracy = accuracy_score(data.test_labels, predicted)
    print(f"best configuration: {model} on {features}, test accuracy {accuracy:.4f}")

    fig = plot_confusion(
        matrix,
        intents,
        title=f"Confusion matrix of the {model} ({features})",
        subtitle=f"test split, n = {len(data.test_labels):,}, accuracy = {accuracy:.3f}",
    )
    common.FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIG2_PNG, dpi=common.FIGURE_DPI)
    plt.close(fig)


if __name__ == "__main__":
    main()
