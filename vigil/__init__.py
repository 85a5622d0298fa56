"""Vigil: appearance-based video analytics for a community CCTV control room."""

__version__ = "0.1.0"
