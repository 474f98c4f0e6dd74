"""Outliers by reconstruction: a small autoencoder learns what a space's vectors look
like, and an item it rebuilds badly is unlike the rest.

One autoencoder per space (PyTorch, CPU): the item vectors (L2-normalized) squeezed
through a narrow middle layer and back; trained with Adam on the mean squared error
for a fixed number of steps, so 100k vectors take seconds. The middle is narrow
(at most BOTTLENECK, and a tenth of the items) so that it cannot learn every item by
heart: what most items share is kept, what only a few have is lost. An item's score
is its squared reconstruction error. Seeded: the same vectors give the same scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BOTTLENECK = 16
HIDDEN = 128
STEPS = 600
BATCH = 256
LEARNING_RATE = 3e-3


def reconstruction_errors(vectors: np.ndarray, *, steps: int = STEPS, seed: int = 0) -> np.ndarray:
    """Each row's squared error as rebuilt by an autoencoder trained on all the rows."""
    import torch

    n, dim = vectors.shape
    if n == 0:
        return np.zeros(0)
    # one thread, as vocab/glove.py: the batches are small, and a second thread spinning
    # beside another busy process costs more than it gives
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(torch, vectors, steps, seed)
    finally:
        torch.set_num_threads(threads)


def _fit(torch: Any, vectors: np.ndarray, steps: int, seed: int) -> np.ndarray:
    n, dim = vectors.shape
    x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    middle = max(2, min(BOTTLENECK, n // 10))
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Linear(dim, HIDDEN),
            torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN, middle),
            torch.nn.ReLU(),
            torch.nn.Linear(middle, HIDDEN),
            torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN, dim),
        )
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    model.train()
    for _ in range(steps):
        rows = torch.randint(0, n, (min(BATCH, n),), generator=generator)
        batch = x[rows]
        loss = torch.nn.functional.mse_loss(model(batch), batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        errors = [((model(part) - part) ** 2).sum(dim=1) for part in torch.split(x, 8192)]
    return torch.cat(errors).numpy().astype(np.float64)
