"""Agents as isolated OS processes: each runs in a sandbox and reaches the kernel only by its syscalls."""
