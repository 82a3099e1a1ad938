"""How close generated images come to real ones, on a frozen encoder's features.

FID proper needs Inception-v3 weights, which do not load offline; the same statistics on
EfficientNet-Lite0 pooled features (1280-d, the offline image encoder) are reported as
**FD** (Fréchet distance) and **KID** (kernel inception distance: unbiased MMD² with the
cubic polynomial kernel, Bińkowski et al. 2018). Their scale is not FID's: compare them with
the *floor* of the same N (real training images vs real held-out images), never with
published FID figures.

The conditioning checks ask whether the image carries its entity: a genre classifier
fitted on real training images, applied to generated ones (mean average precision against
the entity's true labels), and retrieval (the rank of the entity's own real image among
all held-out real images when queried by its generated image).
"""

from __future__ import annotations

import numpy as np


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``|mu_a - mu_b|² + Tr(S_a + S_b - 2 (S_a S_b)^½)`` of two feature sets ``[n, d]``.

    ``Tr((S_a S_b)^½)`` is the sum of the singular values of ``A_c B_cᵀ / √((n_a-1)(n_b-1))``
    (centred data): the eigenvalues of ``S_a S_b`` are the squared singular values of that
    ``n_a × n_b`` matrix. Exact, and seconds faster than a ``d × d`` matrix square root when
    there are fewer images than feature dimensions.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a Fréchet distance needs at least two images on each side, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    centred_a, centred_b = a - mu_a, b - mu_b
    trace_a = (centred_a ** 2).sum() / (len(a) - 1)
    trace_b = (centred_b ** 2).sum() / (len(b) - 1)
    cross = centred_a @ centred_b.T / np.sqrt((len(a) - 1) * (len(b) - 1))
    trace_root = np.linalg.svd(cross, compute_uv=False).sum()
    return float(((mu_a - mu_b) ** 2).sum() + trace_a + trace_b - 2 * trace_root)


def kernel_distance(a: np.ndarray, b: np.ndarray, *, subsets: int = 50, subset_size: int = 100,
                    seed: int = 0) -> float:
    """KID: the unbiased MMD² of ``k(x, y) = (x·y / d + 1)³``, averaged over random subsets."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least two images on each side, got {len(a)} and {len(b)}")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        total += ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
    return float(total / subsets)


def label_matrix(labels: list[list[str]], classes: list[str]) -> np.ndarray:
    column = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(labels), len(classes)), dtype=np.int64)
    for row, names in enumerate(labels):
        for name in names:
            if name in column:
                out[row, column[name]] = 1
    return out


def fit_label_classifier(features: np.ndarray, labels: list[list[str]], *, seed: int = 0) -> tuple[object, list[str]]:
    """One logistic regression per label on standardised features (labels seen at least twice, not everywhere)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    counts: dict[str, int] = {}
    for names in labels:
        for name in set(names):
            counts[name] = counts.get(name, 0) + 1
    classes = sorted(c for c, n in counts.items() if 2 <= n < len(labels))
    if not classes:
        raise ValueError("no label is shared by two training images (and missing from another): nothing to fit")
    classifier = make_pipeline(StandardScaler(), OneVsRestClassifier(
        LogisticRegression(C=0.05, max_iter=2000, random_state=seed)))
    classifier.fit(features, label_matrix(labels, classes))
    return classifier, classes


def label_map(classifier: object, classes: list[str], features: np.ndarray, labels: list[list[str]]) -> float:
    """Macro mean average precision of the classifier's scores on ``features`` against ``labels``
    (over the labels that occur among them)."""
    from sklearn.metrics import average_precision_score

    truth = label_matrix(labels, classes)
    present = truth.sum(0) > 0
    if not present.any():
        raise ValueError("none of the evaluated images has a label the classifier knows")
    scores = classifier.predict_proba(features)  # type: ignore[attr-defined]
    if len(classes) == 1:  # one label: scikit-learn answers as a binary classifier, [P(no), P(yes)]
        scores = scores[:, -1:]
    return float(average_precision_score(truth[:, present], scores[:, present], average="macro"))


def retrieval_ranks(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Rank (1 = first) of gallery row ``i`` among all gallery rows for query ``i``, by cosine similarity."""
    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    similarity = unit(np.asarray(queries, dtype=np.float64)) @ unit(np.asarray(gallery, dtype=np.float64)).T
    own = np.diag(similarity)[:, None]
    return (similarity > own).sum(1) + 1
