"""Option types more than one runtime declares: shared by composition, never inheritance.

docker and swarm both run the server in a container, so each declares `image` and
`resources` with the types below; neither options model derives from the other, and
a runtime that has no container (local) declares neither.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ByteSize, Field

from tfsctl.spec.base import Strict


class Resources(Strict):
    """Limits of the container the server runs in."""

    cpus: float | None = Field(default=None, gt=0, le=1024)
    memory: ByteSize | None = Field(default=None, description="e.g. 2GiB, 512MB")


#: What a server without limits has (the answer of runtimes that set none).
NO_LIMITS = Resources()

Image = Annotated[str, Field(min_length=1)]
Replicas = Annotated[int, Field(ge=1, le=10_000)]
