"""Tiny test servers in containers, and what the engine holds for a server.

A test container runs the base image's `python3 -m http.server` on a directory
mounted read-only, so one GET of who.txt proves the ports, the mount and which
container answers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.support.net import wait_http
from tfsctl.runtimes.engine.container_spec import SERVER_LABEL, ContainerSpec, Mount, PortBinding
from tfsctl.runtimes.engine.containers import NEXT_INFIX, PREVIOUS_INFIX

#: An environment value that must reach the engine and nothing else (reprs, errors).
SECRET = "s3cr3t-value-never-printed"


def site(tmp_path: Path, text: str) -> Path:
    """A directory whose who.txt says `text`."""
    root = tmp_path / f"site-{text}"
    root.mkdir()
    (root / "who.txt").write_text(text)
    return root


def http_args(port: int, directory: str) -> tuple[str, ...]:
    return ("python3", "-m", "http.server", str(port), "--bind", "0.0.0.0", "--directory", directory)


def stamp(**settings: Any) -> tuple[str, str]:
    """(config hash, settings JSON) for `settings`, as a runtime stamps them on a container."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), text


def http_spec(name: str, image: str, root: Path, port: int, **extra: Any) -> ContainerSpec:
    """Container `name` (also its server) serving `root` on 127.0.0.1:`port`, with a secret env."""
    config_hash, settings = stamp(image=image, site=str(root), port=port)
    fields: dict[str, Any] = {
        "name": name, "server": name, "image": image, "args": http_args(8000, "/site"),
        "env": (("GREETING", "hello"), ("API_TOKEN", SECRET)),
        "ports": (PortBinding(8000, "127.0.0.1", port),),
        "mounts": (Mount(str(root), "/site", read_only=True),),
        "config_hash": config_hash, "settings": settings,
    }
    fields.update(extra)
    return ContainerSpec(**fields)


def who(port: int, timeout: float = 20) -> str:
    """Which site answers on 127.0.0.1:`port` (waits until one does)."""
    return wait_http(f"http://127.0.0.1:{port}/who.txt", timeout=timeout).text


def started_at(client: Any, container_id: str) -> str:
    return str(client.containers.get(container_id).attrs["State"]["StartedAt"])


def container_names(client: Any, server: str) -> list[str]:
    """Every container on the engine named after `server` or labelled as serving it."""
    return sorted(c.name for c in client.containers.list(all=True)
                  if c.name.startswith(server) or (c.labels or {}).get(SERVER_LABEL) == server)


def set_aside(client: Any, server: str) -> list[str]:
    """The server's containers renamed aside or staged by a replace."""
    return [name for name in container_names(client, server)
            if PREVIOUS_INFIX in name or NEXT_INFIX in name]

