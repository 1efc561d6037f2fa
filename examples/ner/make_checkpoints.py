#!/usr/bin/env python3
"""Make the NER example's TF1 checkpoints: one small tagger per entity class.

The seed's models are character-level BiLSTM-CRF taggers trained per entity class; their
graphs take `ChatInputs` (character ids), `SegInputs` (word-segment features) and
`Dropout` (keep probability, 1.0 when serving) and give `project/logits` (a score per
character and tag) and `crf_loss/transitions` (the CRF's tag-to-tag scores). Training
one is beside the point here, so each graph is the smallest with those tensors: a score
table per character (high B/I scores for the characters of its class's entities) plus a
segment table, and transitions that forbid O -> I. Viterbi decoding over them finds the
entities, as it would with a trained model.

    python make_checkpoints.py [OUT_DIR]    # default: checkpoints/ beside this script

writes OUT_DIR/<class>/model.ckpt* for PER, LOC and ORG. Character ids are the line
numbers of handlers/vocab.txt (id 0 the unknown character), which the handler reads too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: entity class -> the entities its tagger knows
ENTITIES = {
    "per": ["张三", "李四", "王小明"],
    "loc": ["北京", "上海", "天安门"],
    "org": ["清华大学", "人民银行", "新华社"],
}
TAGS = ("O", "B", "I")


VOCAB = Path(__file__).parent / "handlers" / "vocab.txt"


def vocabulary() -> list[str]:
    return VOCAB.read_text(encoding="utf-8").splitlines()


def make(kind: str, vocab: list[str], out: Path) -> None:
    import numpy as np
    import tensorflow as tf

    tf1 = tf.compat.v1
    scores = np.zeros((len(vocab), len(TAGS)), np.float32)
    scores[:, 0] = 1.0  # every character is O unless it belongs to an entity of this class
    for word in ENTITIES[kind]:
        for char in word:
            scores[vocab.index(char)] = (0.0, 2.0, 2.0)
    transitions = np.array([[0.0, 0.0, -1e4],   # O -> I is impossible
                            [0.0, -1.0, 1.0],    # B -> I preferred over B -> B
                            [0.0, -1.0, 0.5]], np.float32)
    graph = tf.Graph()
    with graph.as_default(), tf1.Session(graph=graph) as session:
        chars = tf1.placeholder(tf.int32, [None, None], name="ChatInputs")
        segs = tf1.placeholder(tf.int32, [None, None], name="SegInputs")
        keep = tf1.placeholder(tf.float32, [], name="Dropout")
        table = tf1.get_variable("char_scores", initializer=scores)
        seg_table = tf1.get_variable("seg_scores", initializer=np.zeros((4, 3), np.float32))
        features = tf.nn.embedding_lookup(table, chars) + tf.nn.embedding_lookup(seg_table, segs)
        features = tf1.nn.dropout(features, keep_prob=keep)
        with tf1.name_scope("project"):
            tf.identity(features, name="logits")
        with tf1.variable_scope("crf_loss"):
            matrix = tf1.get_variable("transition_scores", initializer=transitions)
            tf.identity(matrix, name="transitions")
        session.run(tf1.global_variables_initializer())
        (out / kind).mkdir(parents=True, exist_ok=True)
        tf1.train.Saver().save(session, str(out / kind / "model.ckpt"))


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "checkpoints"
    vocab = vocabulary()
    missing = {c for words in ENTITIES.values() for w in words for c in w} - set(vocab)
    if missing:
        raise SystemExit(f"{VOCAB} lacks the characters {''.join(sorted(missing))}")
    for kind in ENTITIES:
        make(kind, vocab, out)
        print(f"wrote {out / kind / 'model.ckpt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
