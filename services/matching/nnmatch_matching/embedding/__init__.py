"""The embedder role: profiles.v1 → profile-vectors.v1 (see README.md)."""
