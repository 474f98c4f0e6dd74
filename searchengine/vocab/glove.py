"""GloVe (Pennington, Socher and Manning, 2014), written here in PyTorch.

Why our own (checked with pip on Python 3.11): `glove-python-binary` has no
wheel for it; `glove_python` 0.1.0 (2016) is a source package whose generated
Cython no longer compiles; `mittens` 0.2 (2019) installs but is unmaintained
and takes the co-occurrence matrix dense, vocabulary squared, which a 50,000-
term collection cannot afford; the Stanford C tool is a separate program to
build and feed files. The published objective
is small enough to state exactly:

    J = sum over co-occurring (i, j) of f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2
    f(x) = min(1, (x / x_max) ** 0.75), x_max = 100

X_ij counts term j within `window` terms of term i, each pair weighted 1/d
for terms d apart, symmetrically (the paper's setting). It is minimised with
AdaGrad over shuffled mini-batches of the non-zero cells (the reference code
steps cell by cell; batches aim at the same minimum, at vectorised speed), and a
term's vector is w + w~, as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # both load lazily: importing the library must stay quick
    import scipy.sparse as sp
    import torch

from searchengine.vocab.corpus import TermCorpus
from searchengine.vocab.store import WordVectors, unit_rows

X_MAX = 100.0
ALPHA = 0.75
LEARNING_RATE = 0.2  # the reference 0.05 left small collections far from the minimum
BATCH = 4096
BATCHES_PER_EPOCH = 200  # at most: a bigger collection gets bigger batches


def cooccurrences(corpus: TermCorpus, keep: np.ndarray, window: int) -> sp.coo_matrix:
    """X: 1/d-weighted counts of kept terms within `window` of each other, symmetric.

    Rarer terms are dropped before windows are taken, as GloVe's `cooccur` does.
    Windows never cross a chunk's end.
    """
    import scipy.sparse as sp

    kept = keep[corpus.ids]
    ids = corpus.ids[kept]
    chunk_of = np.repeat(np.arange(corpus.chunks), np.diff(corpus.offsets))[kept]
    remap = np.cumsum(keep) - 1
    ids = remap[ids].astype(np.int64)
    n = int(keep.sum())
    total = sp.csr_matrix((n, n), dtype=np.float64)
    for d in range(1, window + 1):
        same = chunk_of[d:] == chunk_of[:-d]
        left, right = ids[:-d][same], ids[d:][same]
        weights = np.full(len(left), 1.0 / d)
        total = total + sp.csr_matrix((weights, (left, right)), shape=(n, n))
    total = total + total.T
    return total.tocoo()


class TrainingStopped(Exception):
    """`should_stop` said yes between two epochs: nothing was trained."""


def train_glove(
    corpus: TermCorpus,
    *,
    dim: int,
    window: int,
    min_count: int,
    epochs: int,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> WordVectors:
    """GloVe vectors (w + w~) for every term seen at least `min_count` times. Asked
    between epochs, `should_stop` ends it with TrainingStopped: a process must not exit
    while torch works in a thread of it (it can abort at exit, status -6)."""
    import torch

    keep = corpus.counts >= min_count
    words = [w for w, k in zip(corpus.words, keep, strict=True) if k]
    counts = corpus.counts[keep]
    x = cooccurrences(corpus, keep, window)
    rows = torch.from_numpy(x.row.astype(np.int64))
    cols = torch.from_numpy(x.col.astype(np.int64))
    log_x = torch.from_numpy(np.log(x.data).astype(np.float32))
    weight = torch.from_numpy(np.minimum(1.0, (x.data / X_MAX) ** ALPHA).astype(np.float32))

    # one thread: the batches are small, and a second thread spinning beside another
    # busy process costs more than it gives (see cli/search.py `_searching`)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(words, counts, rows, cols, log_x, weight, dim, epochs, seed, should_stop)
    finally:
        torch.set_num_threads(threads)


def _fit(
    words: list[str],
    counts: np.ndarray,
    rows: torch.Tensor,
    cols: torch.Tensor,
    log_x: torch.Tensor,
    weight: torch.Tensor,
    dim: int,
    epochs: int,
    seed: int,
    should_stop: Callable[[], bool] | None = None,
) -> WordVectors:
    import torch

    gen = torch.Generator().manual_seed(seed)
    n = len(words)
    # the reference code's start: uniform in [-0.5, 0.5] / dim; AdaGrad sums start at 1
    w = (torch.rand(n, dim, generator=gen) - 0.5) / dim
    c = (torch.rand(n, dim, generator=gen) - 0.5) / dim
    bw = (torch.rand(n, generator=gen) - 0.5) / dim
    bc = (torch.rand(n, generator=gen) - 0.5) / dim
    gw, gc = torch.ones(n, dim), torch.ones(n, dim)
    gbw, gbc = torch.ones(n), torch.ones(n)
    with torch.no_grad():
        for _ in range(epochs):
            if should_stop is not None and should_stop():
                raise TrainingStopped
            order = torch.randperm(len(log_x), generator=gen)
            size = max(BATCH, len(order) // BATCHES_PER_EPOCH)
            for start in range(0, len(order), size):
                b = order[start : start + size]
                i, j = rows[b], cols[b]
                wi, cj = w[i], c[j]
                diff = (wi * cj).sum(1) + bw[i] + bc[j] - log_x[b]
                fdiff = weight[b] * diff
                grad_w = fdiff[:, None] * cj
                grad_c = fdiff[:, None] * wi
                _adagrad(w, gw, i, grad_w)
                _adagrad(c, gc, j, grad_c)
                _adagrad(bw, gbw, i, fdiff)
                _adagrad(bc, gbc, j, fdiff)
    vectors = (w + c).numpy()
    return WordVectors("glove", words, unit_rows(vectors), counts.astype(np.int64))


def _adagrad(param: torch.Tensor, sums: torch.Tensor, at: torch.Tensor, grad: torch.Tensor) -> None:
    """One AdaGrad step, each row's gradients in the batch summed first: a frequent term
    sits in many cells of a batch, and a step per cell would overshoot. Rows not in
    the batch get a zero gradient, which leaves them as they are."""
    total = param.new_zeros(param.shape)
    total.index_add_(0, at, grad)
    sums += total.square()
    param -= LEARNING_RATE * total / sums.sqrt()
