"""What runs a BERT-family text model: ONNX Runtime by default, torch as the fallback.

Both take token ids and an attention mask and give mean-pooled, L2-normalised
vectors. The ONNX graph is exported once from the torch model into the model
cache (`<model_cache>/onnx/`), checked against torch on Korean and English
text (cosine >= 0.9999, else it is thrown away and torch is used), and stamped
with the torch weights' fingerprint, so an index built with either engine
accepts the other. A later run loads the graph alone: no torch import, a
session shared by every thread (ONNX Runtime sessions are thread-safe), its
thread count fixed when it is made.

The export wraps the model's own embeddings and encoder with an explicit
attention mask, because tracing `BertModel.forward` bakes the mask logic of
the example batch into the graph (vectors of padded rows then differ).

The word-embedding table stays out of the graph, in `embeddings.npy`, read
through a memory map: in a multilingual model it is most of the weights (e5-small:
250k x 384 floats, 384 of its 470 MB), yet a query touches a dozen rows. The
graph takes those rows (`inputs_embeds`) and adds the position and type
embeddings itself, so the vectors are the same, and a session loads in a
fraction of the time.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import functools
import hashlib
import json
import logging
import mmap
import os
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from searchengine.models import apart
from searchengine.models.sources import TextSource

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"  # bump when the exported graph changes shape or meaning
MIN_COSINE = 0.9999  # an exported graph must give the torch vectors to within this
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CHECK_TEXTS = (
    "query: 승용차를 사려면 무엇을 확인해야 하나요?",
    "passage: 자동차 구입 가이드: 예산부터 보험까지, 처음 차를 살 때 드는 비용.",
    "query: walking my puppy in the park",
    "passage: " + "The quick brown fox jumps over the lazy dog. " * 12,
    "x",
)


def weights_fingerprint(model: Any, extra: str = "") -> str:
    """A short hash of a model's parameters, cheap enough to take at every load.

    Names, shapes and the first values of every tensor tell apart two checkpoints
    of one architecture (say a 4-bit rebuild and the full-precision original)
    without hashing hundreds of megabytes.
    """
    h = hashlib.sha256(extra.encode())
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().reshape(-1)[:64].to("cpu").float().numpy()
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(flat.tobytes())
    return h.hexdigest()[:16]


def model_config(config: Any) -> dict[str, Any]:
    """What the encoder needs to know of a model's config."""
    return {
        "hidden_size": int(config.hidden_size),
        "max_position_embeddings": int(getattr(config, "max_position_embeddings", 512) or 512),
        "pad_token_id": getattr(config, "pad_token_id", None),
    }


def pooled(hidden: Any, mask: Any) -> Any:
    """Mean over the unmasked tokens, L2-normalised (torch tensors)."""
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, dim=-1)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), where torch's
    bf16 matrix products are faster than fp32 rather than emulated and slower."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def release_freed_memory() -> None:
    """Hand the memory a batch freed back to the system (glibc's `malloc_trim`; nothing
    elsewhere).

    A forward pass allocates and frees hundreds of megabytes of activations whose sizes
    change with every batch (batches are sorted by length), and glibc keeps what is freed
    for reuse: it stopped fitting the next shapes, so an indexing run grew by gigabytes
    (measured, 150 HTML files of /usr/share/doc: peak 3.3 GB, 2.3 GB with this after each
    batch; chunks/s 0.96x in paired rounds on a loaded machine, within its noise).
    Forcing large blocks into `mmap` instead (`M_MMAP_THRESHOLD`) held it lower but cost
    ~20% of the speed: every tensor's pages were faulted in afresh."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None


class TorchBackend:
    """The model as `transformers` loads it."""

    engine = "torch"

    def __init__(self, source: TextSource, device: str | None = None, threads: int = 0):
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the library never draws on the terminal
        self.model = AutoModel.from_pretrained(source.location)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.eval().to(self.device)
        self.config = model_config(self.model.config)
        self.fingerprint = weights_fingerprint(
            self.model, f"{source.query_prefix}|{source.passage_prefix}"
        )
        if threads > 0:
            torch.set_num_threads(threads)

    def share_embeddings(self, table: np.ndarray) -> bool:
        """Read the input embeddings from `table`, the ONNX export's memory-mapped copy of
        the same weights, and free this model's own copy (e5-small: 250k tokens x 384,
        0.38 GB, of which a batch touches a few rows). False, and nothing changed, where
        the table is not the same: another shape, or other values in a sample of rows."""
        import torch

        embeddings = self.model.get_input_embeddings()
        weight = embeddings.weight
        if not self.device.startswith("cpu") or tuple(weight.shape) != table.shape:
            return False
        rows = np.random.default_rng(0).integers(0, table.shape[0], size=256)
        if not np.array_equal(weight.detach()[rows].float().numpy(), table[rows]):
            return False
        with warnings.catch_warnings():  # read-only pages: inference never writes them
            warnings.simplefilter("ignore", UserWarning)
            shared = torch.from_numpy(table)
        embeddings.weight = torch.nn.Parameter(shared, requires_grad=False)
        del weight
        _own_weights(self.model, keep=embeddings.weight)
        release_freed_memory()
        return True

    def run(self, ids: np.ndarray, mask: np.ndarray, *, bf16: bool = False) -> np.ndarray:
        """Vectors of a batch; `bf16`: the matrix products in bfloat16 (autocast; layer
        norms, softmax and the pooling stay fp32)."""
        import torch

        t_ids = torch.from_numpy(ids).to(self.device)
        t_mask = torch.from_numpy(mask).to(self.device)
        low = torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=bf16)
        with torch.inference_mode():
            with low:
                hidden = self.model(input_ids=t_ids, attention_mask=t_mask).last_hidden_state
            out = pooled(hidden.float(), t_mask)
        vectors = np.asarray(out.float().cpu().numpy(), dtype=np.float32)
        del hidden, out
        if self.device.startswith("cpu"):
            release_freed_memory()
        return vectors


def _own_weights(model: Any, keep: Any) -> None:
    """Copy every weight of `model` but `keep` into memory of its own, so that nothing
    refers to the checkpoint any more and its memory map closes.

    transformers loads a safetensors checkpoint as views of the file mapped in memory,
    and the file stays mapped while one tensor views it. Reading the weights (the
    fingerprint, the check of the shared table) brings all of its pages in, the 0.38 GB
    input embeddings included, and they count in the process's resident memory as long
    as the map is open, although the model reads the shared table instead. Measured on
    e5-small: 283-360 MB of the checkpoint resident after `share_embeddings`, none with
    the other weights copied (86 MB), and an indexing process 1,819 -> 1,542 MB after
    its first batch."""
    import torch

    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            if tensor is not keep:
                tensor.data = tensor.data.clone()


class _HoldsSession(Protocol):
    session: Any


_HOLDERS: weakref.WeakSet[_HoldsSession] = weakref.WeakSet()


@atexit.register
def _close_sessions() -> None:
    """Free every session before the interpreter shuts down. A session with its own
    thread pool (more than one intra-op thread, as index runs have) still alive at exit
    aborted the process in 2 of 5 index runs ('terminate called without an active
    exception', exit status 134), after the run had committed everything; one-thread
    sessions (searches) never did."""
    for holder in list(_HOLDERS):
        holder.session = None


def cpu_session(graph: Path, threads: int, holder: _HoldsSession, plan_memory: bool = True) -> Any:
    """An ONNX Runtime session on the CPU for `holder.session`, freed at exit: `threads`
    intra-op threads (0: one per physical core) that sleep when idle. With another
    process on one of two cores, a spinning pair took a query encode from 11 to 21 ms.

    `plan_memory=False` turns off ONNX Runtime's memory pattern, which reserves one
    block for all of a run's activations, per input shape, and keeps it: for the image
    towers at 32 pictures of 224 px that block is most of their memory (the pair held
    959 MB after seven runs with it, 615 MB without, at the same speed; the arena
    itself stays, since without it each run asks the system afresh and was ~1.4x
    slower)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(0, threads)
    options.inter_op_num_threads = 1
    options.enable_mem_pattern = plan_memory
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        str(graph), sess_options=options, providers=["CPUExecutionProvider"]
    )
    _HOLDERS.add(holder)
    return session


def mapped_rows(path: Path) -> np.ndarray:
    """The array saved in `path` (.npy), memory-mapped read-only for reading scattered
    rows: the kernel is told the reads are random, so a row read brings in its own page,
    not the 128 KB around it. With the default read-ahead, e5's 384 MB table was 157 MB
    resident after 155 chunks of /usr/share/doc had been encoded (each token's row pulled
    in its neighbours), and it grows toward the whole table over a long run."""
    with open(path, "rb") as f:
        major, _ = np.lib.format.read_magic(f)
        if major == 1:
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        offset = f.tell()
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mmap, "MADV_RANDOM"):  # Linux, macOS; not Windows
        mapped.madvise(mmap.MADV_RANDOM)
    count = int(np.prod(shape))
    array = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C")


class OnnxBackend:
    """The exported graph in an ONNX Runtime session."""

    engine = "onnx"

    def __init__(self, folder: Path, meta: dict[str, Any], threads: int = 0):
        self.table = mapped_rows(folder / "embeddings.npy")
        self._graph = folder / "model.onnx"
        self._threads = threads
        self._opening = threading.Lock()
        self.session: Any = cpu_session(self._graph, threads, self)  # a damaged graph: here
        self.fingerprint = str(meta["fingerprint"])
        self.config = meta["config"]

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = {"inputs_embeds": self.table[ids], "attention_mask": mask.astype(np.int64)}
        session = self.session
        if session is None:  # released while torch encoded the batches: opened again
            with self._opening:
                if self.session is None:
                    self.session = cpu_session(self._graph, self._threads, self)
                session = self.session
        (out,) = session.run(["embedding"], feeds)
        return np.asarray(out, dtype=np.float32)

    def release_session(self) -> None:
        """Free the session until the next `run` (the table stays): an indexing process
        encodes its batches on torch and may never run a query (measured on e5-small:
        the session holds ~100 MB, ~150 after a small batch)."""
        self.session = None
        release_freed_memory()


def onnx_folder(source: TextSource, model_cache: Path) -> Path:
    """Where this model's graph is kept: named for the weights it was exported from."""
    location = Path(source.location)
    h = hashlib.sha256(
        f"{EXPORT_VERSION}|{location.resolve()}|{source.query_prefix}|{source.passage_prefix}".encode()
    )
    for name in WEIGHT_FILES:
        weights = location / name
        if weights.is_file():
            stat = weights.stat()
            h.update(f"{name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in location.name)[:60]
    return model_cache / "onnx" / f"{slug}-{h.hexdigest()[:16]}"


def load_onnx(
    source: TextSource,
    model_cache: Path,
    threads: int = 0,
    on_status: Callable[[str], None] | None = None,
) -> OnnxBackend | None:
    """The model's ONNX backend, exporting it first if needed; None where it cannot be."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        log.info("onnxruntime is not installed: the text model runs on torch")
        return None
    if not Path(source.location).is_dir():
        return None
    folder = onnx_folder(source, model_cache)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        if on_status is not None:
            on_status(f"preparing {source.name} for ONNX Runtime (one time, ~10 s)")
        location = Path(source.location)
        ended = None
        if apart.worth_a_process(location / name for name in WEIGHT_FILES):
            ended = apart.run_apart(export, source, folder)  # its memory goes with it
        if ended is None:
            try:
                export(source, folder)
            except Exception as exc:  # any failure: torch still works
                log.warning("cannot run %s on ONNX Runtime (%s); using torch", source.name, exc)
                return None
        elif ended != 0 or not meta_path.is_file():
            log.warning(
                "cannot run %s on ONNX Runtime (its export ended with exit code %s); using torch",
                source.name,
                ended,
            )
            return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not meta.get("ok"):
        log.info("%s: %s; using torch", source.name, meta.get("reason", "no ONNX graph"))
        return None
    try:
        return OnnxBackend(folder, meta, threads)
    except Exception as exc:  # a damaged cache (a file cut short, deleted): export again
        log.warning("the ONNX graph in %s cannot be loaded (%s); using torch", folder, exc)
        meta_path.unlink(missing_ok=True)  # the next run exports it anew
        return None


def export(source: TextSource, folder: Path) -> None:
    """Export the torch model to `folder`, check it, and record the outcome in meta.json.

    A graph that fails the check is deleted and the reason kept, so the next
    run goes straight to torch instead of exporting again.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the library never draws on the terminal
    model = AutoModel.from_pretrained(source.location, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(source.location)
    fingerprint = weights_fingerprint(model, f"{source.query_prefix}|{source.passage_prefix}")
    wrapped = _pooled_module(model).eval()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".export-"))
    try:
        table = model.get_input_embeddings().weight.detach().float().numpy()
        np.save(tmp / "embeddings.npy", table)
        example = tokenizer(list(CHECK_TEXTS[:2]), padding=True, return_tensors="pt")
        with torch.no_grad():
            torch.onnx.export(
                wrapped,
                (torch.from_numpy(table[example["input_ids"].numpy()]), example["attention_mask"]),
                str(tmp / "model.onnx"),
                input_names=["inputs_embeds", "attention_mask"],
                output_names=["embedding"],
                dynamic_axes={
                    "inputs_embeds": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        cosine = _check(model, tokenizer, tmp, table)
        meta: dict[str, Any] = {
            "ok": cosine >= MIN_COSINE,
            "fingerprint": fingerprint,
            "min_cosine": cosine,
            "config": model_config(model.config),
            "torch": torch.__version__,
            "export_version": EXPORT_VERSION,
        }
        if not meta["ok"]:
            meta["reason"] = f"the ONNX graph gives cosine {cosine:.6f} to torch (< {MIN_COSINE})"
            for name in ("model.onnx", "embeddings.npy"):
                (tmp / name).unlink()
        for name in ("embeddings.npy", "model.onnx", "model.onnx.data"):
            if (tmp / name).exists():
                os.replace(tmp / name, folder / name)
        _write_json(folder / "meta.json", meta)  # last: its presence means done
        log.info("exported %s to ONNX (cosine to torch %.6f)", source.name, cosine)
    finally:
        for leftover in tmp.iterdir():
            leftover.unlink()
        tmp.rmdir()


def _pooled_module(model: Any) -> Any:
    """The model's embeddings and encoder with an explicit mask, then pooling."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, inputs_embeds: Any, attention_mask: Any) -> Any:
            emb = self.inner.embeddings(
                inputs_embeds=inputs_embeds, token_type_ids=torch.zeros_like(attention_mask)
            )
            m = attention_mask.to(emb.dtype)
            additive = (1.0 - m[:, None, None, :]) * torch.finfo(emb.dtype).min
            hidden = self.inner.encoder(emb, attention_mask=additive).last_hidden_state
            return pooled(hidden, attention_mask)

    return Pooled(model)


def _check(model: Any, tokenizer: Any, folder: Path, table: np.ndarray) -> float:
    """The lowest cosine between torch's and the graph's vectors for CHECK_TEXTS, padded."""
    import onnxruntime as ort
    import torch

    enc = tokenizer(list(CHECK_TEXTS), padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        ref = pooled(hidden.last_hidden_state, enc["attention_mask"]).numpy()
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {
        "inputs_embeds": table[enc["input_ids"].numpy()],
        "attention_mask": enc["attention_mask"].numpy().astype(np.int64),
    }
    (got,) = session.run(["embedding"], feeds)
    return float(np.min(np.sum(np.asarray(got) * ref, axis=1)))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.chmod(tmp, 0o644)  # a model cache may be shared, like the files beside it
    os.replace(tmp, path)
