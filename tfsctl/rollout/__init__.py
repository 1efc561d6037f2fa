"""Rollout strategies and their analysis: what a canary is in a plan, and how each of its
intervals is judged. Pure: the runtimes read the figures, apply runs the steps."""
