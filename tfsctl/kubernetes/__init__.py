"""Kubernetes manifests for a spec's servers (rendered for GitOps, never applied)."""
