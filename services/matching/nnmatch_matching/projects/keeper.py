"""The hubs role's projects: projects.v1 applied to the book, each open project's text embedded.

The text is embedded with the service's embedder (the one the hubs role embeds hubs with), so
a project's vector compares with members' offers vectors; vectors of another model than the
matcher's are refused at read time (`service.py`), not mixed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import numpy as np

from nnmatch.events import ProjectUpserted
from nnmatch.hub import project_key
from nnmatch_matching.hubs.keeper import EmbedTexts
from nnmatch_matching.projects.book import OpenProject, ProjectBook
from nnmatch_matching.projects.texts import project_text


class ProjectKeeper:
    def __init__(self, book: ProjectBook, embed: EmbedTexts, model_id: Callable[[], str]) -> None:
        self.book = book
        self._embed = embed
        self._model_id = model_id
        self._lock = asyncio.Lock()

    async def put_projects(self, projects: Sequence[ProjectUpserted]) -> None:
        """Open projects are embedded and kept; closed ones leave (their key is remembered)."""
        opened = [e for e in projects if e.project.open]
        texts = [project_text(e.project) for e in opened]
        vectors = await self._embed(texts) if texts else np.zeros((0, 0), dtype=np.float32)
        model = self._model_id()
        async with self._lock:
            for event, vector in zip(opened, vectors, strict=True):
                self.book.put_open(
                    OpenProject(
                        hub_id=event.hub_id,
                        project_id=event.project_id,
                        version=event.version,
                        project=event.project,
                        vector=np.asarray(vector, dtype=np.float32),
                        model_id=model,
                    )
                )
            for event in projects:
                if not event.project.open:
                    self.book.close(project_key(event.hub_id, event.project_id))

    async def drop_projects(self, keys: Sequence[str]) -> None:
        async with self._lock:
            for key in keys:
                self.book.drop(key)
