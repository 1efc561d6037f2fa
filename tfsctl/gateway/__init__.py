"""The gateway: the user's pre- and post-processing as a web service in front of a server.

A model takes tensors while a user sends a sentence; the code between the two (text to
ids, logits to labels) is not in the graph, so it runs here: a handler module's
`preprocess(payload)` says which models to call with which inputs, the gateway calls
them all concurrently over one long-lived gRPC channel to the server, and the handler's
`postprocess(payload, outputs)` turns their outputs into the JSON answer of
`POST /v1/gateways/<name>:predict`. uvicorn does the HTTP and grpcio's asyncio client the
gRPC; the messages are tfsctl's own (tfsctl/protos/gateway.proto), so no TensorFlow is
imported here. See docs/gateway.md for the handler contract and the error answers.
"""
