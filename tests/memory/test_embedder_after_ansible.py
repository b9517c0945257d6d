"""The embedder loads in a process where the ansible driver already ran (ansible patches `sys.intern`)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, types
from aios.tools.ansible_inventory import parse_inventory
from aios.memory.embedder import Embedder, packaged_model_dir
parse_inventory("[web]\\nweb1 ansible_host=127.0.0.1\\n")  # the driver's guard, as before a playbook runs
assert not isinstance(sys.intern, types.BuiltinFunctionType), "ansible did not patch sys.intern here"
print(Embedder(packaged_model_dir()).encode(["a memory"]).shape)
"""


def test_memory_recall_survives_an_ansible_run_in_the_same_process() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(1, 384)"
