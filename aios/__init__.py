"""AIOS runtime: an operating system for LLM agents."""

__version__ = "0.1.0"
