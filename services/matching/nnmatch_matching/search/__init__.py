"""Hub search over the matcher's index (see README.md)."""
