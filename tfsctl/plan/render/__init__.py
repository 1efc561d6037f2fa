"""Renderers of a `Plan`: text for terminals, JSON for machines, Markdown for pull requests.

They share `lines.py`, which decides *what* a reviewer reads about each server,
so the terminal and the pull-request comment never disagree; each renderer only
decides how it looks. None of them imports TensorFlow or docker.
"""

#: GitHub refuses a pull-request comment longer than this many characters, so a Markdown
#: plan is cut to fit by default (`tfsctl plan --markdown-limit`).
COMMENT_LIMIT = 65_536
