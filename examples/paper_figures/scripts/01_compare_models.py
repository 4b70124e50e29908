"""Figure 1 and Table 1: compare classifiers and feature sets on the held-out test split.

Naive Bayes is the baseline; a Random Forest and a linear SVM are compared with it, each over
word n-grams and character n-grams.

Reads:  data/utterances.csv
Writes: tables/table1_metrics.csv, figures/fig1_model_comparison.png and .pdf
"""

from __future__ import annotations

import csv

import common
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import accuracy_score, f1_score

FIG1_STEM = common.FIGURES_DIR / "fig1_model_comparison"
METRICS = {"accuracy": "Accuracy", "macro_f1": "Macro-F1"}


def evaluate_all(data: common.Split) -> list[dict[str, str | float]]:
    """Fit every model on every feature set; return one row of test metrics per pair."""
    rows: list[dict[str, str | float]] = []
    for model in common.MODELS:
        for features in common.FEATURE_SETS:
            pipeline = common.make_pipeline(model, features)
            pipeline.fit(data.train_texts, data.train_labels)
            predicted = pipeline.predict(data.test_texts)
            accuracy = accuracy_score(data.test_labels, predicted)
            macro_f1 = f1_score(data.test_labels, predicted, average="macro")
            rows.append(
                {
                    "model": model,
                    "features": features,
                    "accuracy": round(float(accuracy), 4),
                    "macro_f1": round(float(macro_f1), 4),
                }
            )
            print(f"{model:>14} | {features:<12} | acc {accuracy:.4f} | macro-F1 {macro_f1:.4f}")
    return rows


def write_table(rows: list[dict[str, str | float]]) -> None:
    """Write Table 1 as CSV: model, features, accuracy, macro_f1 (4 decimals)."""
    common.TABLES_DIR.mkdir(parents=True, exist_ok=True)
    with common.TABLE1_CSV.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["model", "features", "accuracy", "macro_f1"])
        for row in rows:
            writer.writerow(
                [row["model"], row["features"], f"{row['accuracy']:.4f}", f"{row['macro_f1']:.4f}"]
            )


def plot_comparison(rows: list[dict[str, str | float]], n_test: int) -> None:
    """Grouped bar chart: one panel per metric, models on the x axis, one bar per feature set."""
    models = list(common.MODELS)
    feature_sets = list(common.FEATURE_SETS)
    lookup = {(row["model"], row["features"]): row for row in rows}
    lowest = min(float(row[metric]) for row in rows for metric in METRICS)
    y_min = max(0.0, np.floor((lowest - 0.05) * 10) / 10)

    fig, axes = plt.subplots(1, len(METRICS), figsize=(10, 4.8), sharey=True)
    x = np.arange(len(models))
    width = 0.8 / len(feature_sets)
    for ax, (metric, metric_label) in zip(axes, METRICS.items(), strict=True):
        for i, features in enumerate(feature_sets):
            values = [float(lookup[(model, features)][metric]) for model in models]
            offset = (i - (len(feature_sets) - 1) / 2) * width
            bars = ax.bar(
                x + offset,
                values,
                width,
                label=features,
                color=common.FEATURE_COLOURS[features],
                edgecolor="white",
            )
            ax.bar_label(bars, fmt="%.3f", padding=2, fontsize=8)
        ax.set_xticks(x, [m + " (baseline)" if m == common.BASELINE else m for m in models])
        ax.set_title(metric_label)
        ax.set_ylim(y_min, 1.0)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_ylabel("Score on the test split")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="Features", loc="lower center", ncol=len(feature_sets))
    fig.suptitle(f"Intent classification: models and features compared (test n = {n_test:,})")
    fig.tight_layout(rect=(0, 0.1, 1, 1))

    common.FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIG1_STEM.with_suffix(".png"), dpi=common.FIGURE_DPI)
    fig.savefig(FIG1_STEM.with_suffix(".pdf"))
    plt.close(fig)


def main() -> None:
    """Run the comparison and write Table 1 and Figure 1."""
    texts, labels = common.load_utterances()
    data = common.split(texts, labels)
    rows = evaluate_all(data)
    write_table(rows)
    plot_comparison(rows, n_test=len(data.test_texts))


if __name__ == "__main__":
    main()
