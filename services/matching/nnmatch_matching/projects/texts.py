"""A project → the one text embedded for it and the words its candidates' offers must meet.

Pure. What a project seeks reads as a member's seeks text reads (`SEEK_PHRASES`), so the
project's vector is compared with members' *offers* vectors as a member's seeks vector is.
"""

from __future__ import annotations

from nnmatch.hub import ProjectProfile
from nnmatch_matching.embedding.texts import SEEK_PHRASES


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def project_text(project: ProjectProfile) -> str:
    """Title, description, the kinds it seeks in words, and its own seeks text."""
    kinds = [SEEK_PHRASES[k] for k in project.seeks.kinds]
    return _join(
        f"{project.title}." if project.title else "",
        project.description,
        f"Seeks: {', '.join(kinds)}." if kinds else "",
        project.seeks.text,
    )


def seek_words(project: ProjectProfile) -> str:
    """The words a candidate's own words are matched against (no stock kind phrases: the
    kinds are matched exactly, and phrases everyone shares would only blur the rest)."""
    return _join(project.title, project.description, project.seeks.text)
