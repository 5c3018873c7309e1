#!/usr/bin/python3
"""Independent reference for VacCnn's t-SNE: scikit-learn's TSNE on a precomputed distance matrix.

Runs scikit-learn (exact or Barnes-Hut) for each seed with the given parameters and scores every embedding, its own
and any passed with --embedding, the same way:
  kl       KL(P || Q) with Q computed exactly over all pairs, P built by scikit-learn's own functions for the method
                  (exact: dense P; Barnes-Hut: sparse P over the 3·perplexity + 1 nearest neighbours), both from the SQUARED
           distances, which is what TSNE(metric="precomputed") does in scikit-learn 1.2 for either method;
  klOwnP   the same KL with P from this script's own NumPy bisection (each row shifted by its minimum before exp(), as
           VacCnn does; scikit-learn 1.2's does not shift and leaves rows whose exp() underflows at perplexity 2-3
           instead of the target: `rowsOffTarget` counts them), to check the KL that VacCnn reports for itself;
  recall   k-NN recall: mean share of each point's k nearest neighbours in the distance matrix that are among its k
           nearest in the embedding (ties broken by index).
Prints one JSON object on stdout.

    tsne_reference.py --distances D.npy --method barnes_hut --seeds 0 1 2 [--embedding ours.npy ...]

With --points X.npy ([n, dims] float32) instead of --distances, at scale (the benchmark's 21,843 classes): scikit-learn's
Barnes-Hut on the points' Euclidean distances; KL with P from scikit-learn's kNN affinities and Z over all pairs in
chunks; recall on the evenly spaced sample that VacCnn scores (every ceil(n / 5000)-th point).
"""
import argparse
import json
import time

import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial.distance import squareform
from sklearn.manifold import TSNE
from sklearn.manifold import _t_sne
from sklearn.neighbors import NearestNeighbors


def joint_p(d, method, perplexity):
    """Dense [n, n] P exactly as scikit-learn builds it for the method (float64)."""
    n = d.shape[0]
    if method == "exact":
        return squareform(_t_sne._joint_probabilities(d.astype(np.float32) ** 2, perplexity, 0))
    k = min(n - 1, int(3.0 * perplexity + 1))
    knn = NearestNeighbors(n_neighbors=k, metric="precomputed").fit(d)
    g = knn.kneighbors_graph(mode="distance")
    g.data **= 2
    return csr_matrix(_t_sne._joint_probabilities_nn(g, perplexity, 0)).toarray()


def fit_rows(d, perplexity):
    """Conditional P per row of d ([rows, m] distances to the candidates), bisection on beta for all rows at once."""
    d = d - d.min(axis=1, keepdims=True)
    target = np.log(perplexity)
    beta = np.ones(len(d))
    lo = np.full(len(d), -np.inf)
    hi = np.full(len(d), np.inf)
    for _ in range(200):
        w = np.exp(-d * beta[:, None])
        s = w.sum(1)
        p = w / s[:, None]
        h = np.log(s) + beta * (d * p).sum(1)
        diff = h - target
        done = np.abs(diff) <= 1e-5
        if done.all():
            break
        up = (diff > 0) & ~done
        down = (diff < 0) & ~done
        lo[up] = beta[up]
        beta[up] = np.where(np.isinf(hi[up]), beta[up] * 2, (beta[up] + hi[up]) / 2)
        hi[down] = beta[down]
        beta[down] = np.where(np.isinf(lo[down]), beta[down] / 2, (beta[down] + lo[down]) / 2)
    return p


def own_p(d, method, perplexity):
    """Dense [n, n] joint P built independently of scikit-learn (squared distances, shifted rows)."""
    n = d.shape[0]
    sq = d.astype(np.float64) ** 2
    masked = sq.copy()
    np.fill_diagonal(masked, np.inf)
    if method == "exact":
        cols = np.array([[j for j in range(n) if j != i] for i in range(n)])
    else:
        k = min(n - 1, int(3.0 * perplexity + 1))
        cols = np.argsort(masked, axis=1, kind="stable")[:, :k]
    cond = np.zeros((n, n))
    rows = np.repeat(np.arange(n)[:, None], cols.shape[1], axis=1)
    cond[rows, cols] = fit_rows(np.take_along_axis(sq, cols, axis=1), perplexity)
    joint = cond + cond.T
    return joint / joint.sum()


def rows_off_target(d, method, perplexity):
    sq = (d.astype(np.float32) ** 2)
    if method == "exact":
        cp = _t_sne._utils._binary_search_perplexity(sq, perplexity, 0).astype(np.float64)
    else:
        masked = sq.astype(np.float64).copy()
        np.fill_diagonal(masked, np.inf)
        k = min(d.shape[0] - 1, int(3.0 * perplexity + 1))
        cols = np.argsort(masked, axis=1, kind="stable")[:, :k]
        cp = _t_sne._utils._binary_search_perplexity(np.take_along_axis(sq, cols, axis=1).astype(np.float32), perplexity, 0).astype(np.float64)
    h = -(np.where(cp > 0, cp * np.log(np.maximum(cp, 1e-300)), 0.0)).sum(1)
    return int((np.abs(np.exp(h) - perplexity) > 0.01).sum())


def kl(p, y):
    y = y.astype(np.float64)
    sq = ((y[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    w = 1.0 / (1.0 + sq)
    np.fill_diagonal(w, 0.0)
    q = w / w.sum()
    mask = p > 0
    return float((p[mask] * np.log(p[mask] / np.maximum(q[mask], np.finfo(float).eps))).sum())


def knn_sets(dist, k):
    dist = dist.astype(np.float64).copy()
    np.fill_diagonal(dist, np.inf)
    # Stable argsort: ties broken by index, as VacCnn's score does.
    return np.argsort(dist, axis=1, kind="stable")[:, :k]


def recall(high, y, k):
    y = y.astype(np.float64)
    low = ((y[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    a, b = knn_sets(high, k), knn_sets(low, k)
    return float(np.mean([len(set(a[i]) & set(b[i])) / k for i in range(len(a))]))


def sample_of(n, max_points=5000):
    step = max(1, -(-n // max_points))
    return np.arange(0, n, step)


def points_p(x, perplexity):
    n = x.shape[0]
    k = min(n - 1, int(3.0 * perplexity + 1))
    g = NearestNeighbors(n_neighbors=k).fit(x).kneighbors_graph(mode="distance")
    g.data **= 2
    return csr_matrix(_t_sne._joint_probabilities_nn(g, perplexity, 0))


def kl_sparse(p, y, chunk=1024):
    y = y.astype(np.float64)
    n = len(y)
    z = 0.0
    for s in range(0, n, chunk):
        block = ((y[s:s + chunk, None, :] - y[None, :, :]) ** 2).sum(-1)
        w = 1.0 / (1.0 + block)
        w[np.arange(len(block)), np.arange(s, s + len(block))] = 0.0
        z += w.sum()
    coo = p.tocoo()
    d2 = ((y[coo.row] - y[coo.col]) ** 2).sum(-1)
    v = coo.data
    return float((v * (np.log(v) + np.log1p(d2) + np.log(z))).sum())


def recall_points(x, y, k, chunk=256):
    rows = sample_of(len(x))
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    hits = 0
    for s in range(0, len(rows), chunk):
        r = rows[s:s + chunk]
        # |a − b|² = |a|² + |b|² − 2 a·b: one matrix product instead of a [chunk, n, dims] temporary.
        hd = (x[r] ** 2).sum(1)[:, None] + (x ** 2).sum(1)[None, :] - 2 * x[r] @ x.T
        ld = ((y[r, None, :] - y[None, :, :]) ** 2).sum(-1)
        hd[np.arange(len(r)), r] = np.inf
        ld[np.arange(len(r)), r] = np.inf
        a = np.argsort(hd, axis=1, kind="stable")[:, :k]
        b = np.argsort(ld, axis=1, kind="stable")[:, :k]
        hits += sum(len(set(a[i]) & set(b[i])) for i in range(len(r)))
    return hits / (len(rows) * k)


def main_points(a):
    x = np.load(a.points).astype(np.float32)
    p = points_p(x, a.perplexity)
    out = {"n": int(x.shape[0]), "method": "barnes_hut", "sklearn": [], "embeddings": []}
    for seed in a.seeds:
        t = TSNE(n_components=2, perplexity=a.perplexity, early_exaggeration=a.early_exaggeration,
                 learning_rate=a.learning_rate, n_iter=a.iterations, init="random", method="barnes_hut",
                 angle=a.angle, random_state=seed, n_jobs=a.threads)
        start = time.perf_counter()
        y = t.fit_transform(x)
        seconds = time.perf_counter() - start
        out["sklearn"].append({"seed": seed, "seconds": seconds, "reportedKl": float(t.kl_divergence_),
                               "kl": kl_sparse(p, y), "recall": recall_points(x, y, a.k)})
    for path in a.embedding:
        y = np.load(path)
        out["embeddings"].append({"path": path, "kl": kl_sparse(p, y), "recall": recall_points(x, y, a.k)})
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--distances")
    ap.add_argument("--points")
    ap.add_argument("--method", choices=["exact", "barnes_hut"], default="barnes_hut")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--perplexity", type=float, default=5)
    ap.add_argument("--early-exaggeration", type=float, default=25)
    ap.add_argument("--learning-rate", type=float, default=800)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--angle", type=float, default=0.5)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--embedding", nargs="*", default=[], help="[n, 2] .npy files to score as well")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.points:
        return main_points(a)

    d = np.load(a.distances).astype(np.float64)
    p = joint_p(d, a.method, a.perplexity)
    mine = own_p(d, a.method, a.perplexity)
    out = {"n": int(d.shape[0]), "method": a.method, "rowsOffTarget": rows_off_target(d, a.method, a.perplexity),
           "sklearn": [], "embeddings": []}
    for seed in a.seeds:
        t = TSNE(n_components=2, perplexity=a.perplexity, early_exaggeration=a.early_exaggeration,
                 learning_rate=a.learning_rate, n_iter=a.iterations, metric="precomputed", init="random",
                 method=a.method, angle=a.angle, random_state=seed, n_jobs=a.threads)
        start = time.perf_counter()
        y = t.fit_transform(d)
        seconds = time.perf_counter() - start
        out["sklearn"].append({"seed": seed, "seconds": seconds, "reportedKl": float(t.kl_divergence_),
                               "kl": kl(p, y), "klOwnP": kl(mine, y), "recall": recall(d, y, a.k)})
    for path in a.embedding:
        y = np.load(path)
        out["embeddings"].append({"path": path, "kl": kl(p, y), "klOwnP": kl(mine, y), "recall": recall(d, y, a.k)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
