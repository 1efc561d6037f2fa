"""Traffic: what sits between clients and a server's TF Serving processes.

The proxy's configuration (`config.py`, pure) and the client of HAProxy's Runtime
API (`runtime_api.py`) with the blue/green moves made through it (`switch.py`).
Below the runtimes, which start the containers, and knows nothing of them.
"""
