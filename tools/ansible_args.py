"""Arguments of `ansible.check` and `ansible.apply`, as the model sees them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PlaybookArgs(BaseModel):
    """Arguments of `ansible.check` and `ansible.apply`."""

    model_config = ConfigDict(extra="forbid")

    playbook: str | None = Field(
        default=None,
        description="The playbook as YAML text: a list of plays.",
        examples=[
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
            "    - ansible.builtin.copy: {dest: hello.txt, content: hi}\n"
        ],
    )
    playbook_file: str | None = Field(
        default=None, description="Instead of `playbook`: path of a playbook file in the work dir."
    )
    inventory: str | None = Field(
        default=None,
        description="Inventory text, INI or YAML; default: this machine over a local connection.",
    )
    extra_vars: dict[str, Any] = Field(default_factory=dict, description="Variables passed with -e.")

    @model_validator(mode="after")
    def _one_playbook(self) -> PlaybookArgs:
        if (self.playbook is None) == (self.playbook_file is None):
            raise ValueError("give exactly one of playbook (YAML text) or playbook_file (a path)")
        return self
