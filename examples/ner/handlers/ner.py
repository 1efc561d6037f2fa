"""The NER example's gateway handler: a sentence in, its named entities out.

What the seed's client did by hand, as a tfsctl gateway handler: map each character to
its id (vocab.txt beside this file, loaded once by `setup()`), call every entity class's
model with `charinputs`, `seginputs` and `dropout` (the gateway calls them concurrently
and gives each the dtype its signature declares), Viterbi-decode each model's `logits`
with its `transitions`, and merge the entities of all the classes, in sentence order.

    POST /v1/gateways/ner-api:predict  {"text": "张三在北京的清华大学工作"}
    -> {"text": "...", "entities": [{"word": "张三", "start": 0, "end": 2, "type": "PER"}, ...]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: model name -> the entity type it tags
MODELS_BY_TYPE = {"ner_per": "PER", "ner_loc": "LOC", "ner_org": "ORG"}
TAGS = ("O", "B", "I")
MAX_CHARS = 512

_ids: dict[str, int] = {}


def setup() -> None:
    """Read the vocabulary once, before the gateway serves."""
    lines = (Path(__file__).parent / "vocab.txt").read_text(encoding="utf-8").splitlines()
    _ids.update({char: index for index, char in enumerate(lines)})


def preprocess(payload: Any) -> dict[str, dict[str, Any]]:
    text = payload["text"]
    if not isinstance(text, str) or not text:
        raise ValueError("`text` must be a non-empty string")
    if len(text) > MAX_CHARS:
        raise ValueError(f"`text` is over {MAX_CHARS} characters")
    chars = [[_ids.get(char, 0) for char in text]]
    inputs = {"charinputs": chars, "seginputs": [[0] * len(text)], "dropout": 1.0}
    return {model: inputs for model in MODELS_BY_TYPE}


def viterbi(scores: np.ndarray, transitions: np.ndarray) -> list[int]:
    """The best tag path through per-position `scores` [n, tags] (the CRF's decoding)."""
    best, back = scores[0].copy(), []
    for row in scores[1:]:
        total = best[:, None] + transitions
        back.append(total.argmax(axis=0))
        best = total.max(axis=0) + row
    path = [int(best.argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return path[::-1]


def _spans(tags: list[int]) -> list[tuple[int, int]]:
    spans, start = [], None
    for index, tag in enumerate([*tags, 0]):
        if start is not None and TAGS[tag] != "I":
            spans.append((start, index))
            start = None
        if TAGS[tag] == "B":
            start = index
    return spans


def postprocess(payload: Any, outputs: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    text = payload["text"]
    entities = []
    for model, kind in MODELS_BY_TYPE.items():
        tags = viterbi(outputs[model]["logits"][0], outputs[model]["transitions"])
        entities += [{"word": text[a:b], "start": a, "end": b, "type": kind}
                     for a, b in _spans(tags)]
    return {"text": text, "entities": sorted(entities, key=lambda e: e["start"])}
