"""Scores agents on computer tasks in OSWorld's JSON, each in a fresh sandboxed desktop instead of a VM."""
