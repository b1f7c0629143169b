"""Tooling around the services: the CLI, dev stack, demo, launcher, seed, eval and recall.

May import the services; the services and `nnmatch` never import it, and production images
do not carry it.
"""
