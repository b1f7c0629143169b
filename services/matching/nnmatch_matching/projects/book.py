"""The open projects the hubs role keeps, each with its text's vector; closed ones by key only.

Pure and in memory (a hub posts at most `MAX_PROJECTS_PER_HUB`). A closed project keeps no
vector and no text here: the candidates route only needs to tell "closed" from "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nnmatch.hub import ProjectProfile, project_key

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class OpenProject:
    """An open project as its hub wrote it, and its text's unit vector (by `model_id`)."""

    hub_id: str
    project_id: str
    version: int
    project: ProjectProfile
    vector: Vector
    model_id: str


class ProjectBook:
    def __init__(self) -> None:
        self._open: dict[str, OpenProject] = {}
        self._closed: set[str] = set()

    def __len__(self) -> int:
        return len(self._open)

    def put_open(self, project: OpenProject) -> None:
        key = project_key(project.hub_id, project.project_id)
        self._closed.discard(key)
        self._open[key] = project

    def close(self, key: str) -> None:
        """The project is closed: it leaves, only its key is remembered."""
        self._open.pop(key, None)
        self._closed.add(key)

    def drop(self, key: str) -> None:
        """The project (or its hub) was deleted: nothing of it is kept."""
        self._open.pop(key, None)
        self._closed.discard(key)

    def open(self) -> list[OpenProject]:
        """Every open project (a copy: the keeper may change the book meanwhile)."""
        return list(self._open.values())

    def get(self, hub_id: str, project_id: str) -> OpenProject | None:
        return self._open.get(project_key(hub_id, project_id))

    def is_closed(self, hub_id: str, project_id: str) -> bool:
        return project_key(hub_id, project_id) in self._closed
