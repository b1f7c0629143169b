"""Hub ↔ hub partner suggestions: hubs.v1 and profile-vectors.v1 → hub-partners.v1."""
