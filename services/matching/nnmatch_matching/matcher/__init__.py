"""The matcher role: vectors and feedback → ranked lists on matches.v1 (see README.md)."""
