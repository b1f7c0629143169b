"""nnmatch: event-driven people matching for the AI for Good Neural Network."""

__version__ = "0.1.0"
