"""The files TensorFlow Serving reads (model.config, batching, monitoring): build, render, parse."""
