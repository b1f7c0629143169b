"""A project's ranked candidates: projects.v1 → open projects embedded → members who fit."""
