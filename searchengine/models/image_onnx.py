"""A shipped image tower on ONNX Runtime: a picture query without torch.

A cold `semsearch search --image` spent most of its time importing torch, timm
and open_clip (about 3.5 s on 2 cores) and reading each tower's assembled
checkpoint, a whole e5 text tower included, only to drop it again. The tower's
forward pass is a small graph, so it is exported once, from the torch model
that an index run or a first search loads anyway, into the model's assembled
folder (`image.onnx`, named for the weights it came from), checked against
torch on pictures of several shapes (cosine >= 0.9999, else thrown away and
torch kept), and stamped with the torch model's fingerprint, so an index built
with either engine accepts the other. A later process loads the graph alone.

The graph returns the pooled features that enter the tower's head as well as
the image vector, so tags come from the same pass. Pictures are prepared as
open_clip's eval transform for ``resize_mode: longest`` does (bicubic resize of
the longest side, centred on a square of the fill colour, normalised), in
Pillow and numpy; `_check` compares the two preparations' vectors too.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from searchengine.models.text_backends import cpu_session

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"  # bump when the exported graph changes shape or meaning
MIN_COSINE = 0.9999  # an exported graph must give the torch vectors to within this
GRAPH = "image.onnx"
META = "image-onnx.json"
# pictures the check draws: sizes that exercise the resize and the padding on both sides
CHECK_SIZES = ((64, 64), (300, 200), (150, 420), (1024, 768), (33, 17))


@dataclass(frozen=True)
class Preparation:
    """How a picture becomes the tower's input (open_clip's ``preprocess_cfg``)."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    fill: int

    def pixels(self, images: Sequence[Image.Image]) -> np.ndarray:
        """A batch (n, 3, size, size), float32, as open_clip's eval transform gives it."""
        out = np.empty((len(images), 3, self.size, self.size), dtype=np.float32)
        mean = np.asarray(self.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None, None]
        for i, image in enumerate(images):
            square = self._square(image.convert("RGB"))
            chw = np.asarray(square, dtype=np.float32).transpose(2, 0, 1) / 255.0
            out[i] = (chw - mean) / std
        return out

    def _square(self, image: Image.Image) -> Image.Image:
        w, h = image.size
        ratio = max(h / self.size, w / self.size)
        new_h, new_w = round(h / ratio), round(w / ratio)
        resized = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
        if (new_w, new_h) == (self.size, self.size):
            return resized
        canvas = Image.new("RGB", (self.size, self.size), (self.fill,) * 3)
        canvas.paste(resized, ((self.size - new_w) // 2, (self.size - new_h) // 2))
        return canvas


def preparation(folder: Path) -> Preparation | None:
    """The preparation an open_clip ``local-dir:`` folder's config asks for, if this module
    can give it (``resize_mode: longest``, bicubic); None otherwise."""
    try:
        cfg = json.loads((folder / "open_clip_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pre = cfg.get("preprocess_cfg", {})
    size = cfg.get("model_cfg", {}).get("vision_cfg", {}).get("image_size")
    if pre.get("resize_mode") != "longest" or pre.get("interpolation") != "bicubic":
        return None
    if not isinstance(size, int) or len(pre.get("mean", ())) != 3:
        return None
    return Preparation(size, tuple(pre["mean"]), tuple(pre["std"]), int(pre.get("fill_color", 0)))


class OnnxImageTower:
    """The exported tower in an ONNX Runtime session: vectors and pooled features."""

    def __init__(self, folder: Path, prep: Preparation, meta: dict[str, Any], threads: int = 0):
        # no memory pattern: a batch of pictures is one fixed, large shape (cpu_session)
        self.session: Any = cpu_session(folder / GRAPH, threads, self, plan_memory=False)
        self.prep = prep
        self.fingerprint = str(meta["fingerprint"])
        self.dim = int(meta["dim"])
        self.has_pooled = bool(meta["pooled"])

    def run(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray | None]:
        """L2-normalised vectors, and the pooled features where the graph gives them."""
        outputs = self.session.run(None, {"pixels": self.prep.pixels(images)})
        vectors = np.asarray(outputs[0], dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        pooled = np.asarray(outputs[1], dtype=np.float32) if self.has_pooled else None
        return vectors, pooled


def load(folder: Path, threads: int = 0) -> OnnxImageTower | None:
    """The folder's exported tower, if one was exported and passed its check."""
    prep = preparation(folder)
    meta_path = folder / META
    if prep is None or not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not meta.get("ok") or meta.get("export_version") != EXPORT_VERSION:
            return None
        import onnxruntime  # noqa: F401
    except (OSError, ValueError, ImportError):
        return None
    try:
        return OnnxImageTower(folder, prep, meta, threads)
    except Exception as exc:  # a damaged cache: export again on the next torch load
        log.warning("the ONNX image graph in %s cannot be loaded (%s); using torch", folder, exc)
        meta_path.unlink(missing_ok=True)
        return None


def exported(folder: Path) -> bool:
    """Whether an export was tried here (passed or not): no second try."""
    return (folder / META).is_file()


def export(model: Any, preprocess: Any, fingerprint: str, dim: int, folder: Path) -> bool:
    """Export `model`'s image tower (open_clip, loaded from `folder`) and check it.

    The outcome is written to `META` last, so a crash leaves nothing that loads;
    a graph that fails the check is deleted and the reason kept.
    """
    import torch

    prep = preparation(folder)
    if prep is None:
        return False
    head = getattr(model.visual, "head", None)
    tower = _tower_module(model.visual, head).eval()
    outputs = ["embedding", "pooled"] if head is not None else ["embedding"]
    example = torch.zeros(2, 3, prep.size, prep.size)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".onnx-"))
    try:
        # the tracer warns of every Python branch it bakes in (the batch size is the one
        # that varies, and it stays a graph input); a process that turns warnings into
        # errors would otherwise lose the export
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                tower,
                (example,),
                str(tmp / GRAPH),
                input_names=["pixels"],
                output_names=outputs,
                dynamic_axes={name: {0: "batch"} for name in ["pixels", *outputs]},
                opset_version=17,
                dynamo=False,
            )
        cosine = _check(model, preprocess, tmp / GRAPH, prep)
        meta: dict[str, Any] = {
            "ok": cosine >= MIN_COSINE,
            "fingerprint": fingerprint,
            "dim": dim,
            "pooled": head is not None,
            "min_cosine": cosine,
            "torch": torch.__version__,
            "export_version": EXPORT_VERSION,
        }
        if meta["ok"]:
            os.replace(tmp / GRAPH, folder / GRAPH)
        else:
            meta["reason"] = f"the ONNX graph gives cosine {cosine:.6f} to torch (< {MIN_COSINE})"
        _write_json(folder / META, meta)
        log.info("exported the image tower in %s to ONNX (cosine to torch %.6f)", folder, cosine)
        return bool(meta["ok"])
    finally:
        for leftover in tmp.iterdir():
            leftover.unlink()
        tmp.rmdir()


def _tower_module(visual: Any, head: Any) -> Any:
    import torch

    class Tower(torch.nn.Module):
        """The image tower, also returning the input of its head (the pooled features)."""

        def __init__(self, inner: Any, head: Any):
            super().__init__()
            self.inner = inner
            self.head_ref = [head]  # not a submodule: it is inside `inner` already

        def forward(self, pixels: Any) -> Any:
            head = self.head_ref[0]
            if head is None:
                return self.inner(pixels)
            seen: list[Any] = []
            hook = head.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
            try:
                out = self.inner(pixels)
            finally:
                hook.remove()
            return out, seen[-1]

    return Tower(visual, head)


def check_images() -> list[Image.Image]:
    """Pictures of several shapes, with detail at every scale (seeded)."""
    rng = np.random.default_rng(26)
    out = []
    for w, h in CHECK_SIZES:
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256])
        noise = rng.integers(0, 64, size=(3, h, w))
        arr = np.clip(base + noise, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        out.append(Image.fromarray(arr, "RGB"))
    return out


def _check(model: Any, preprocess: Any, graph: Path, prep: Preparation) -> float:
    """The lowest cosine between torch (open_clip's transform + model) and the graph
    (this module's preparation + ONNX Runtime), over `check_images`."""
    import onnxruntime as ort
    import torch

    images = check_images()
    with torch.inference_mode():
        ref = model.encode_image(torch.stack([preprocess(im) for im in images])).float().numpy()
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    got = np.asarray(session.run(None, {"pixels": prep.pixels(images)})[0])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    got = got / np.linalg.norm(got, axis=1, keepdims=True)
    return float(np.min(np.sum(ref * got, axis=1)))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
