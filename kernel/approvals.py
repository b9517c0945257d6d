"""Who decides whether a tool operation runs: a policy by driver, operation and arguments, else its risk."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aios.kernel.drivers import RiskLevel
from aios.kernel.errors import ConfigError, describe_validation

Decision = Literal["allow", "deny", "ask"]
"""allow: run; deny: refuse; ask: wait for a human (`aios approve`/`aios deny` or the `aios run` prompt)."""


class PolicyRule(BaseModel):
    """First matching rule wins; patterns are shell globs (`kubernetes.*`, `rm -rf *`)."""

    model_config = ConfigDict(extra="forbid")

    tool: str = "*"
    """`driver.operation` pattern."""
    arguments: dict[str, str] = {}
    """Argument name -> pattern its value (as text) must match."""
    decision: Decision
    reason: str = ""

    def matches(self, tool: str, arguments: dict[str, Any]) -> bool:
        if not fnmatchcase(tool, self.tool):
            return False
        for name, pattern in self.arguments.items():
            if name not in arguments or not fnmatchcase(str(arguments[name]), pattern):
                return False
        return True


class ApprovalPolicy(BaseModel):
    """The `[approvals]` table of the config file (rules may also come from `policy_file`)."""

    model_config = ConfigDict(extra="forbid")

    read: Decision = "allow"
    write: Decision = "allow"
    destructive: Decision = "ask"
    timeout_s: float = Field(default=300.0, gt=0)
    """An unanswered request is denied after this long."""
    policy_file: Path | None = None
    """TOML file of `[[rules]]`, checked before the rules below."""
    rules: list[PolicyRule] = []
    ask_after_untrusted: bool = True
    """Destructive calls ask a human, whatever the rules say, once the process has read tool output."""

    def decide(
        self,
        tool: str,
        arguments: dict[str, Any],
        risk: RiskLevel,
        *,
        ask_first: bool = False,
        tainted_by: str | None = None,
    ) -> tuple[Decision, str]:
        """The decision for one call and why: the first matching rule, else the operation's own default.

        A process that has read tool output may be steered by an injected instruction, so its destructive
        calls are never allowed without a human (VeriOS: ask when the situation is untrustworthy).
        """
        decision, why = self._decide(tool, arguments, risk, ask_first=ask_first)
        if decision == "allow" and risk is RiskLevel.DESTRUCTIVE and tainted_by and self.ask_after_untrusted:
            return "ask", f"{why}, but the process has read untrusted output of {tainted_by}"
        return decision, why

    def _decide(
        self, tool: str, arguments: dict[str, Any], risk: RiskLevel, *, ask_first: bool
    ) -> tuple[Decision, str]:
        for number, rule in enumerate(self.rules, 1):
            if rule.matches(tool, arguments):
                return rule.decision, rule.reason or f"policy rule {number} ({rule.tool})"
        default: Decision = getattr(self, risk.value)
        if ask_first and default == "allow":
            return "ask", f"{tool} asks a human before it runs"
        return default, f"{risk.value} operation"

    def with_file_rules(self) -> ApprovalPolicy:
        """This policy with the rules of `policy_file` in front; errors name the file and the rule."""
        if self.policy_file is None:
            return self
        path = self.policy_file.expanduser()
        try:
            data = tomllib.loads(path.read_text())
        except OSError as e:
            raise ConfigError(f"approvals.policy_file: cannot read {path}: {e}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"approvals.policy_file: {path} is not valid TOML: {e}") from e
        unknown = set(data) - {"rules"}
        if unknown:
            raise ConfigError(
                f"approvals.policy_file: {path}: unknown keys {sorted(unknown)} (only [[rules]])"
            )
        rules = []
        for number, rule in enumerate(data.get("rules", []), 1):
            try:
                rules.append(PolicyRule.model_validate(rule))
            except ValidationError as e:
                problems = describe_validation(e, limit=3)
                raise ConfigError(f"approvals.policy_file: {path}: rule {number}: {problems}") from e
        return self.model_copy(update={"rules": [*rules, *self.rules]})


class ApprovalRecord(BaseModel):
    """One request for a human decision, as stored and listed by `aios approvals`."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    pid: int
    syscall_id: str
    agent: str
    owner: str
    tool: str
    arguments: dict[str, Any]
    risk: str
    why: str = ""
    preview: Any = None
    """What the call would change, from the driver's dry run, for the human to read before deciding."""
    state: Literal["pending", "approved", "denied", "expired", "cancelled"]
    requested_at: float
    decided_at: float | None = None
    decided_by: str | None = None
    reason: str = ""
