"""CLIP image encoder through open_clip; it also puts text queries in image space."""

from __future__ import annotations

import ctypes
import gc
import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image

from searchengine.errors import ModelUnavailableError
from searchengine.models import apart, domain, image_onnx
from searchengine.models.sources import ImageSource
from searchengine.models.tags import Tagger
from searchengine.models.text_encoder import weights_fingerprint
from searchengine.records import Tag, Vectors

log = logging.getLogger(__name__)


class ImageEncoder:
    """L2-normalised CLIP vectors for images, and for text queries into the same space."""

    def __init__(
        self,
        source: ImageSource,
        batch_size: int = 32,
        device: str | None = None,
        *,
        threads: int = 0,
        engine: str = "auto",
        domains: bool = True,
        on_status: Callable[[str], None] | None = None,
    ):
        self.source = source
        self._threads = threads  # torch's threads, set once at load; 0: torch's default
        self.name = source.name
        self.batch_size = batch_size
        self._device = device
        self._lock = threading.Lock()
        self._model: Any = None
        self._preprocess: Any = None
        self._tokenizer: Any = None
        self._dim = 0
        self._fingerprint = ""
        self._encoding = threading.Lock()  # one forward pass at a time, from any thread
        self._tagger: Tagger | None = None
        self._pooled: list[np.ndarray] = []  # pooled features of the pass under way
        self._text_released = False
        self._engine = engine
        self._domains = domains  # judge domains (and keep no tags on drawings); False: all tags
        self._onnx: image_onnx.OnnxImageTower | None = None  # pictures, where exported
        self._on_status = on_status  # told of a long one-time step (the graph's export)

    def _load(self) -> None:
        """What encoding pictures needs: the ONNX graph where one was exported from these
        weights (no torch at all), else the torch model (exporting the graph for next time)."""
        if self._model is not None or self._onnx is not None:
            return
        with self._lock:
            if self._model is not None or self._onnx is not None:
                return
            folder = self._folder()
            tower = image_onnx.load(folder, self._threads) if folder is not None else None
            export = folder is not None and not image_onnx.exported(folder)
            if tower is None and folder is not None and self.exports_apart():
                # exported by a process of its own: the torch model it loads goes with it
                self.say_preparing([self.name])
                ended = apart.run_apart(export_graphs, [(self.source, self._threads)])
                if ended is not None:
                    export = False  # passed, failed or crashed: not again in this process
                    tower = image_onnx.load(folder, self._threads)
                    if tower is None:
                        log.warning(
                            "cannot run %s on ONNX Runtime (its export ended with exit code "
                            "%s); using torch",
                            self.name,
                            ended,
                        )
            if tower is not None:
                self._use_onnx(tower)
                log.info("loaded image model %s on ONNX Runtime (%s)", self.name, self.source.where)
                return
        self._load_torch(export=export)

    @property
    def threads(self) -> int:
        """torch's and ONNX Runtime's threads (0: their default)."""
        return self._threads

    def export_graph(self) -> None:
        """Load the torch model and export the ONNX graph for later processes, where
        none was tried yet (what a process of its own does: `export_graphs`)."""
        self._load_torch()

    def say_preparing(self, names: Sequence[str]) -> None:
        """Tell the user (where someone listens) what the wait of a first load is."""
        if self._on_status is not None:
            self._on_status(
                f"preparing {', '.join(names)} for ONNX Runtime (one time, ~10-30 s each)"
            )

    def exports_apart(self) -> bool:
        """Whether loading would export the graph first, in a process of its own."""
        folder = self._folder()
        return (
            not self.loaded
            and folder is not None
            and not image_onnx.exported(folder)
            and _worth_a_process(folder)
        )

    def _folder(self) -> Path | None:
        """The assembled local-dir folder whose graph may stand in for torch."""
        if self._engine != "auto" or not self.source.arch.startswith(LOCAL_DIR):
            return None
        return Path(self.source.arch[len(LOCAL_DIR) :])

    def _use_onnx(self, tower: image_onnx.OnnxImageTower) -> None:
        self._dim, self._fingerprint = tower.dim, tower.fingerprint
        if self.source.tagger_file is not None and tower.has_pooled:
            from safetensors.numpy import load_file

            layer = load_file(self.source.tagger_file)
            self._tagger = Tagger(layer["weight"], layer["bias"], self.source.tag_threshold)
        self._onnx = tower

    def _load_torch(self, export: bool = True) -> None:
        """The torch model; `export`: and its ONNX graph for later processes, where
        none was tried yet."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            import open_clip
            import torch

            if self._threads > 0:
                torch.set_num_threads(self._threads)
            try:
                with _without_random_init(self.source):
                    model, _, preprocess = open_clip.create_model_and_transforms(
                        self.source.arch, pretrained=self.source.pretrained
                    )
                tokenizer = open_clip.get_tokenizer(self.source.arch)
            except (OSError, RuntimeError, ValueError) as exc:
                raise ModelUnavailableError(
                    f"cannot load image model {self.name!r} ({self.source.where}): {exc}"
                ) from exc
            device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
            model.eval().to(device)
            self._device = device
            self._preprocess = preprocess
            self._tokenizer = tokenizer
            with torch.inference_mode():
                probe = torch.zeros(1, 3, *_image_size(model), device=device)
                self._dim = int(model.encode_image(probe).shape[-1])
            fingerprint = weights_fingerprint(model, self.source.text_prefix)
            if self._onnx is None:
                self._fingerprint = fingerprint
                if self.source.tagger_file is not None:
                    self._tagger = self._load_tagger(model)
            elif fingerprint != self._fingerprint:
                raise ModelUnavailableError(
                    f"image model {self.name!r}: its ONNX graph was exported from other "
                    f"weights ({self._onnx.fingerprint}, torch loads {fingerprint})"
                )
            self._model = model
            log.info("loaded image model %s (%s)", self.name, self.source.where)
            folder = self._folder()
            if export and self._onnx is None and folder is not None:
                if not image_onnx.exported(folder):
                    self._export(model, preprocess, folder)

    def _export(self, model: Any, preprocess: Any, folder: Path) -> None:
        """Export the graph for later processes, and use it from now on if it passed."""
        try:
            image_onnx.export(model, preprocess, self._fingerprint, self._dim, folder)
        except Exception as exc:  # any failure: torch still works
            log.warning("cannot run %s on ONNX Runtime (%s); using torch", self.name, exc)
            return
        finally:
            self._pooled.clear()  # the check's passes went through the tagging hook
        tower = image_onnx.load(folder, self._threads)
        if tower is not None and tower.fingerprint == self._fingerprint:
            self._onnx = tower

    @property
    def loaded(self) -> bool:
        return self._model is not None or self._onnx is not None

    @property
    def engine(self) -> str:
        """What encodes pictures: "onnx" or "torch" (loads the model)."""
        self._load()
        return "onnx" if self._onnx is not None else "torch"

    @property
    def dim(self) -> int:
        self._load()
        return self._dim

    @property
    def fingerprint(self) -> str:
        self._load()
        return self._fingerprint

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors:
        """Encode RGB images in batches."""
        self._load()
        out = np.zeros((len(images), self._dim), dtype=np.float32)
        with self._encoding:
            self._encode_images(images, out)
        return out

    def _encode_images(self, images: Sequence[Image.Image], out: Vectors) -> None:
        if self._onnx is not None:
            for start in range(0, len(images), self.batch_size):
                batch = images[start : start + self.batch_size]
                vectors, pooled = self._onnx.run(batch)
                out[start : start + len(batch)] = vectors
                if pooled is not None and self._tagger is not None:
                    self._pooled.append(pooled)
            return
        import torch

        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            pixels = torch.stack([self._preprocess(im.convert("RGB")) for im in batch])
            with torch.inference_mode():
                feats = self._model.encode_image(pixels.to(self._device))
                feats = torch.nn.functional.normalize(feats.float(), dim=-1)
            out[start : start + len(batch)] = feats.cpu().numpy()

    def encode_and_tag(
        self, images: Sequence[Image.Image]
    ) -> tuple[Vectors, list[tuple[Tag, ...]]]:
        """Vectors and each image's confident labels, from one forward pass."""
        vectors, tags, _ = self.encode_and_label(images)
        return vectors, tags

    def encode_and_label(
        self, images: Sequence[Image.Image]
    ) -> tuple[Vectors, list[tuple[Tag, ...]], list[str | None]]:
        """Vectors, tags and each image's domain (photo, drawing, text; None where this
        model has no probe), from one forward pass. A drawing keeps no tags
        (`domain.trusts_tags`)."""
        self._load()
        out = np.zeros((len(images), self._dim), dtype=np.float32)
        if self._tagger is None:
            with self._encoding:
                self._encode_images(images, out)
            return out, [() for _ in images], [None for _ in images]
        with self._encoding:
            self._pooled.clear()
            self._encode_images(images, out)
            features = np.concatenate(self._pooled) if self._pooled else np.zeros((0, 0))
            self._pooled.clear()
        probe = domain.probe_for(self.name) if self._domains else None
        tags, domains = domain.judge(probe, features, self._tagger.tags(features))
        return out, tags, domains

    def _load_tagger(self, model: Any) -> Tagger:
        """The classification layer, fed by a hook on the input of the tower's head."""
        from safetensors.numpy import load_file

        assert self.source.tagger_file is not None
        head = getattr(model.visual, "head", None)
        if head is None:
            raise ModelUnavailableError(
                f"image model {self.name!r} has tags but no `visual.head` to read them from"
            )
        layer = load_file(self.source.tagger_file)

        def keep_pooled(module: Any, inputs: tuple[Any, ...]) -> None:
            self._pooled.append(inputs[0].detach().float().cpu().numpy())

        head.register_forward_pre_hook(keep_pooled)
        return Tagger(layer["weight"], layer["bias"], self.source.tag_threshold)

    def release_text_tower(self) -> None:
        """Load the model, then free its text tower (a whole BERT for the shipped towers).

        For a tower whose queries another part reads (`PairedImageEncoder`): the
        fingerprint, taken at load, still covers the text weights, so an index knows
        the same model; only `encode_texts` is refused from then on.
        """
        self._load()
        if self._model is None:  # on ONNX: the text tower was never loaded
            with self._lock:
                self._text_released = True
            return
        import torch

        with self._lock, self._encoding:
            if self._text_released or not isinstance(
                getattr(self._model, "text", None), torch.nn.Module
            ):
                return  # a CLIP without a separate text tower keeps it
            self._model.text = None
            self._tokenizer = None
            self._text_released = True
        gc.collect()
        _return_freed_memory()

    def encode_texts(self, texts: Sequence[str]) -> Vectors:
        """Encode text queries with the CLIP text tower."""
        self._load()
        if not self._text_released:
            self._load_torch()
        if self._text_released:
            raise ModelUnavailableError(
                f"image model {self.name!r}: its text tower was released "
                "(another part reads the queries)"
            )
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        with self._encoding:
            self._encode_texts(texts, out)
        return out

    def _encode_texts(self, texts: Sequence[str], out: Vectors) -> None:
        import torch

        for start in range(0, len(texts), self.batch_size):
            batch = [self.source.text_prefix + t for t in texts[start : start + self.batch_size]]
            tokens = self._tokenizer(batch)
            with torch.inference_mode():
                feats = self._model.encode_text(tokens.to(self._device))
                feats = torch.nn.functional.normalize(feats.float(), dim=-1)
            out[start : start + len(batch)] = feats.cpu().numpy()


LOCAL_DIR = "local-dir:"
# open_clip's names for a whole-model checkpoint in a local-dir folder (loaded strictly)
FULL_CHECKPOINTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors")


def _without_random_init(source: ImageSource) -> AbstractContextManager[Any]:
    """No random initialisation for a model whose every weight a checkpoint then sets.

    open_clip loads a `local-dir:` folder's checkpoint strictly (a missing tensor is an
    error), so drawing random numbers for the text tower first (117 M of them for e5) is
    wasted: about 2 s per tower on 2 cores. Any other model initialises as usual."""
    folder = Path(source.arch[len(LOCAL_DIR) :]) if source.arch.startswith(LOCAL_DIR) else None
    if folder is None or not any((folder / name).is_file() for name in FULL_CHECKPOINTS):
        return nullcontext()
    import importlib

    # transformers 5 keeps it in `initialization`, transformers 4 in `modeling_utils`
    for module in ("transformers.initialization", "transformers.modeling_utils"):
        try:
            no_init_weights = getattr(importlib.import_module(module), "no_init_weights", None)
        except ImportError:
            continue
        if no_init_weights is not None:
            return cast(AbstractContextManager[Any], no_init_weights())
    return nullcontext()


def _worth_a_process(folder: Path) -> bool:
    return apart.worth_a_process(folder / name for name in FULL_CHECKPOINTS)


def export_graphs(sources: Sequence[tuple[ImageSource, int]]) -> None:
    """Export each (source, threads)'s graph, one model at a time (in a child process)."""
    for source, threads in sources:
        ImageEncoder(source, threads=threads).export_graph()
        gc.collect()  # the last model's memory back before the next one loads
        _return_freed_memory()


def export_apart(encoders: Sequence[ImageEncoder]) -> None:
    """Export the graphs these encoders would each export on their first load, in one
    process of their own (a pair's two towers: torch is imported once, not twice). What
    fails there is tried again, and said, where each encoder loads."""
    todo = [enc for enc in encoders if isinstance(enc, ImageEncoder) and enc.exports_apart()]
    if len(todo) > 1:
        todo[0].say_preparing([enc.name for enc in todo])
        apart.run_apart(export_graphs, [(enc.source, enc.threads) for enc in todo])


def _return_freed_memory() -> None:
    """Hand freed heap pages back to the system (glibc keeps them otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory is reused, not returned
        pass


def _image_size(model: Any) -> tuple[int, int]:
    size = getattr(model.visual, "image_size", 224)
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))
