"""Content embeddings of an item's title and description, for item-to-item on items without
interactions and for users with few.

The model is WordLlama's `l2_supercat` (256 dimensions): a static token-embedding table with
mean pooling, whose weights (16 MB safetensors) and tokenizer ship inside the `wordllama` wheel.
It is loaded from site-packages only — never from a hub or a cache: the package's own `load()`
looks for the tokenizer in a folder that its wheel does not have and would then download it, so
the package folder is passed as the cache folder with downloads disabled. No torch, no network;
measured figures and the choice are in docs/recommendations.md ("Content embeddings").

Only the training worker embeds; web processes serve the stored vectors.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

MODEL = "wordllama l2_supercat 256"
DIMENSIONS = 256
TEXT_MAX_CHARS = 2000  # a batch is padded to its longest text: bound the cost of one long one
BATCH = 64

_lock = threading.Lock()
_model = None


def model():
    """The WordLlama model from the installed package (loaded once per process)."""
    global _model
    with _lock:
        if _model is None:
            import wordllama

            _model = wordllama.WordLlama.load(config="l2_supercat", dim=DIMENSIONS,
                                              cache_dir=Path(wordllama.__file__).parent, disable_download=True)
        return _model


def item_text(title: str, description: str) -> str:
    text = f"{title.strip()}. {description.strip()}" if description.strip() else title.strip()
    return text[:TEXT_MAX_CHARS]


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 rows (texts × DIMENSIONS); a text with no known token is a zero row,
    which is similar to nothing."""
    if not texts:
        return np.zeros((0, DIMENSIONS), np.float32)
    vectors = np.asarray(model().embed(texts, norm=False, batch_size=BATCH), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
