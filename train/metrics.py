"""Binary metrics from scikit-learn, in the report's layout (Tables 3.1-3.4) plus EER, AP and log-loss."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)


def equal_error_rate(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """The point of the ROC curve where the false-positive rate equals the false-negative rate."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    fnr = 1.0 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2.0)


def binary_metrics(y_true: np.ndarray, y_score: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """All metrics for labels (0 = real, 1 = fake) and scores P(fake)."""
    y_true = np.asarray(y_true).astype(int)
    y_score = np.asarray(y_score, dtype=np.float64)
    y_pred = (y_score >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1], zero_division=0)
    return {
        "n": int(len(y_true)),
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_real": float(p[0]), "recall_real": float(r[0]), "f1_real": float(f[0]),
        "precision_fake": float(p[1]), "recall_fake": float(r[1]), "f1_fake": float(f[1]),
        "macro_precision": float(np.mean(p)), "macro_recall": float(np.mean(r)), "macro_f1": float(np.mean(f)),
        "roc_auc": float(roc_auc_score(y_true, y_score)) if both else None,
        "eer": equal_error_rate(y_true, y_score) if both else None,
        "average_precision": float(average_precision_score(y_true, y_score)) if both else None,
        "log_loss": float(log_loss(y_true, np.clip(y_score, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist(),
        "counts": {"real": int(s[0]), "fake": int(s[1])},
    }


def markdown_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """One row per model in the report's column order."""
    head = ("| model | n | accuracy | precision real | recall real | F1 real | precision fake | recall fake | "
            "F1 fake | macro F1 | ROC AUC | EER |\n|---|---|---|---|---|---|---|---|---|---|---|---|")

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = [head]
    for name, m in rows:
        keys = ["n", "accuracy", "precision_real", "recall_real", "f1_real", "precision_fake", "recall_fake",
                "f1_fake", "macro_f1", "roc_auc", "eer"]
        lines.append(f"| {name} | " + " | ".join(fmt(m.get(k)) for k in keys) + " |")
    return "\n".join(lines)


def paired_bootstrap_auc(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, resamples: int = 1000,
                         seed: int = 0) -> dict[str, float]:
    """ROC AUC of A minus B on the same items, with a 95 % interval from resampling the items (both models see the
    same resample, so the interval is about the difference, not about either model alone)."""
    y_true, score_a, score_b = np.asarray(y_true).astype(int), np.asarray(score_a), np.asarray(score_b)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y_true), len(y_true))
        if len(np.unique(y_true[idx])) == 2:
            diffs.append(roc_auc_score(y_true[idx], score_a[idx]) - roc_auc_score(y_true[idx], score_b[idx]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    delta = roc_auc_score(y_true, score_a) - roc_auc_score(y_true, score_b)
    return {"delta": float(delta), "low": float(low), "high": float(high), "resamples": len(diffs)}
