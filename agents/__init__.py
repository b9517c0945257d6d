"""Bundled agent apps, written only against `aios.sdk`."""
