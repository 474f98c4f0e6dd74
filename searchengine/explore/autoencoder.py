"""Outliers by reconstruction: a small autoencoder learns what a space's vectors look
like, and an item it rebuilds badly is unlike the rest.

One autoencoder per space: the item vectors (L2-normalized) squeezed through a narrow
middle layer and back (four dense layers, ReLU between them), trained with Adam on
the mean squared error for a fixed number of steps, so 100k vectors take seconds. The
middle is narrow (at most BOTTLENECK, and a tenth of the items) so that it cannot learn
every item by heart: what most items share is kept, what only a few have is lost. An
item's score is its squared reconstruction error. Seeded: the same vectors give the
same scores.

It is written out in NumPy (forward, backward, Adam: a few dozen lines) rather than
run by torch, because it runs at the end of every `semsearch index` that added
something: importing torch there cost an index run that had not needed it (ONNX
Runtime encodes queries and small batches; pictures never need torch) 3-4 s and
0.6 GB of peak memory, and torch's thread pool alive in a background thread at exit
once aborted the process.
"""

from __future__ import annotations

import itertools

import numpy as np

from searchengine.query.threads import one_blas_thread

BOTTLENECK = 16
HIDDEN = 128
STEPS = 600
BATCH = 256
LEARNING_RATE = 3e-3
BETAS = (0.9, 0.999)  # Adam's, as torch.optim.Adam's defaults
EPS = 1e-8


def reconstruction_errors(vectors: np.ndarray, *, steps: int = STEPS, seed: int = 0) -> np.ndarray:
    """Each row's squared error as rebuilt by an autoencoder trained on all the rows."""
    n, dim = vectors.shape
    if n == 0:
        return np.zeros(0)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(seed)
    middle = max(2, min(BOTTLENECK, n // 10))
    net = _Net([dim, HIDDEN, middle, HIDDEN, dim], rng)
    # one BLAS thread: the products are small, and a second thread spinning beside
    # another busy process cost more than it gave (605 vectors: 4 s on one, 27 on two)
    with one_blas_thread():
        for _ in range(steps):
            net.step(x[rng.integers(0, n, min(BATCH, n))])
        errors = [((net.forward(part)[-1] - part) ** 2).sum(axis=1) for part in _split(x, 8192)]
    return np.concatenate(errors).astype(np.float64)


def _split(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, len(x), size)]


class _Net:
    """Dense layers with ReLU between them (none after the last), trained by Adam."""

    def __init__(self, sizes: list[int], rng: np.random.Generator):
        self.params: list[np.ndarray] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / np.sqrt(fan_in)  # torch.nn.Linear's initialisation
            self.params.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
            self.params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Each layer's output, the input first (ReLU applied, except the last)."""
        outs = [x]
        layers = len(self.params) // 2
        for i in range(layers):
            h = outs[-1] @ self.params[2 * i] + self.params[2 * i + 1]
            outs.append(np.maximum(h, 0.0) if i < layers - 1 else h)
        return outs

    def step(self, batch: np.ndarray) -> None:
        """One Adam step on the batch's mean squared error (mean over all its numbers)."""
        outs = self.forward(batch)
        grad = (2.0 / batch.size) * (outs[-1] - batch)
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        for i in reversed(range(len(self.params) // 2)):
            w = self.params[2 * i]
            grads[2 * i] = outs[i].T @ grad
            grads[2 * i + 1] = grad.sum(axis=0)
            if i > 0:
                grad = (grad @ w.T) * (outs[i] > 0)
        self.t += 1
        b1, b2 = BETAS
        # torch.optim.Adam's update, its bias corrections folded into the step and eps
        lr = LEARNING_RATE * (1 - b2**self.t) ** 0.5 / (1 - b1**self.t)
        eps = EPS * (1 - b2**self.t) ** 0.5
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= lr * m / (np.sqrt(v) + eps)
