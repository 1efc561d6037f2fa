#!/usr/bin/env python3
"""Build the small models under examples/models/ (committed; rerun to regenerate).

Deterministic: fixed weights, no training. What it writes:

    half_plus_two/1, half_plus_two/2   SavedModels, y = 0.5 * x + 2
    half_plus_three/1                  SavedModel,  y = 0.5 * x + 3
    sources/checkpoint/model.ckpt*     a TF1 checkpoint, y = 0.5 * x + 2, tensors x:0 -> y:0
    sources/keras/half_plus_four.keras a Keras model, y = 0.5 * x + 4

The SavedModels carry a `serving_default` predict signature with input `x`
and output `y` (float, shape [batch]), as TF Serving's half_plus_two does, so
`{"instances": [1.0, 2.0, 5.0]}` predicts [2.5, 3.0, 4.5].
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "examples" / "models"


def linear_graph(a: float, b: float) -> tuple[tf.Graph, tf.Tensor, tf.Tensor]:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, shape=[None], name="x")
        w = tf.compat.v1.Variable(a, name="a")
        c = tf.compat.v1.Variable(b, name="b")
        y = tf.identity(w * x + c, name="y")
    return graph, x, y


def saved_model(target: Path, a: float, b: float) -> None:
    graph, x, y = linear_graph(a, b)
    shutil.rmtree(target, ignore_errors=True)
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        session.run(tf.compat.v1.global_variables_initializer())
        builder = tf.compat.v1.saved_model.builder.SavedModelBuilder(str(target))
        signature = tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={"x": x}, outputs={"y": y})
        builder.add_meta_graph_and_variables(
            session, ["serve"], signature_def_map={"serving_default": signature},
            strip_default_attrs=True)
        builder.save()


def checkpoint(folder: Path, a: float, b: float) -> None:
    graph, _, _ = linear_graph(a, b)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        session.run(tf.compat.v1.global_variables_initializer())
        saver = tf.compat.v1.train.Saver()
        saver.save(session, str(folder / "model.ckpt"), write_meta_graph=True)
    # the state file records an absolute path; keep it relative so the folder can move
    (folder / "checkpoint").write_text('model_checkpoint_path: "model.ckpt"\n'
                                       'all_model_checkpoint_paths: "model.ckpt"\n')


def keras_model(target: Path, a: float, b: float) -> None:
    import keras
    import numpy as np

    inputs = keras.Input(shape=(1,), name="x")
    layer = keras.layers.Dense(1, name="y")
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.array([[a]], dtype="float32"), np.array([b], dtype="float32")])
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save(target)


def main() -> int:
    saved_model(OUT / "half_plus_two" / "1", 0.5, 2.0)
    saved_model(OUT / "half_plus_two" / "2", 0.5, 2.0)
    saved_model(OUT / "half_plus_three" / "1", 0.5, 3.0)
    checkpoint(OUT / "sources" / "checkpoint", 0.5, 2.0)
    keras_model(OUT / "sources" / "keras" / "half_plus_four.keras", 0.5, 4.0)
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
