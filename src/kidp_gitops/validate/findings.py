"""What a validation run reports: findings, one per problem, and the report they make.

A finding has a severity (error, warning, skipped), the check that raised it, where it
is (file and line, relative to the repository, when a file is known), the object it is
about, and one line of text. Errors fail the run; warnings fail it only with `--strict`;
skipped says what could not be checked offline. No finding ever quotes a secret value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Severity = Literal["error", "warning", "skipped"]
Check = Literal["yaml", "flux", "build", "schema", "secret", "sops", "duplicate"]


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    severity: Severity
    check: Check
    object: str
    message: str

    def where(self) -> str:
        if not self.file:
            return "<build>"
        return f"{self.file}:{self.line}" if self.line else self.file

    def text(self) -> str:
        about = f" {self.object}:" if self.object else ""
        return f"{self.where()}: {self.severity} [{self.check}]{about} {self.message}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    """Every finding of a run, without repeats, and what was looked at."""

    root: str
    kubernetes_version: str
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    objects: int = 0
    builds: list[str] = field(default_factory=list)
    _seen: set[tuple[str, int, str, str]] = field(default_factory=set, repr=False)

    def add(self, finding: Finding) -> None:
        if "\n" in finding.message:  # one line per finding (kustomize's errors run on)
            finding = replace(finding, message=" ".join(finding.message.split()))
        key = (finding.file, finding.line, finding.object, finding.message)
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(finding)

    def add_new(self, finding: Finding) -> None:
        """Add a finding about a built object unless the same problem of the same object
        was found already, wherever (its file, checked as written, says it better)."""
        if not any(
            f.object == finding.object and f.message == finding.message for f in self.findings
        ):
            self.add(finding)

    def extend(self, findings: Iterable[Finding]) -> None:
        for finding in findings:
            self.add(finding)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def failed(self, *, strict: bool) -> bool:
        failing = {"error", "warning"} if strict else {"error"}
        return any(f.severity in failing for f in self.findings)

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (f.file == "", f.file, f.line, f.message))

    def to_json(self, *, strict: bool) -> dict[str, Any]:
        return {
            "root": self.root,
            "kubernetesVersion": self.kubernetes_version,
            "valid": not self.failed(strict=strict),
            "summary": {
                "files": self.files,
                "objects": self.objects,
                "builds": list(self.builds),
                "errors": self.count("error"),
                "warnings": self.count("warning"),
                "skipped": self.count("skipped"),
            },
            "findings": [f.to_json() for f in self.sorted()],
        }
