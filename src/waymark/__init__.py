"""Waymark: follow learning roadmaps step by step."""

from importlib.metadata import version

__version__ = version("waymark")
