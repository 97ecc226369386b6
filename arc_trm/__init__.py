"""arc-trm: an ARC-AGI solver toolkit built on the Tiny Recursive Model (TRM, arXiv 2510.04871)."""

__version__ = "0.1.0"
