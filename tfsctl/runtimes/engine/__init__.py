"""The Docker engine as runtimes use it: its errors in tfsctl's terms, and the containers
tfsctl manages on it (found by label, stamped with the settings they were made from)."""
