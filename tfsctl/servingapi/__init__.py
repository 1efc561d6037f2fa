"""TF Serving's API as data, shared by `tfsctl serve` and the exporter: its canonical status
codes and errors (status), the bounds on what a request may hold (limits), and its REST
JSON requests read into tensors (requests). NumPy only: no TensorFlow, no server."""
