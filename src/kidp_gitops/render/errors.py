"""What can go wrong building and substituting, as errors a person can act on.

    BuildError                  reason BuildFailed (anything below, and kustomize's own)
    ├── PathNotFound            spec.path names nothing in the artifact, or not a directory
    ├── PathEscape              a path or reference leaves the artifact (.., absolute, symlink)
    ├── FileTooLarge            a file over the build file-size limit
    ├── RemoteReference         a remote base or component while remote bases are not allowed
    ├── InvalidKustomization    a kustomization file we must read is not valid YAML
    └── KustomizeTimeout        kustomize ran past its deadline and was killed (transient)
    SubstitutionError           reason BuildFailed: post-build substitution failed
    └── VariableNotSet          strict mode: `${var}` without a value or a default

`str(err)` is the one-line message for status and events, with paths relative to the
artifact root. Substitution messages never quote a value that came from a Secret.
`transient` tells whether the same inputs could succeed on a retry.
"""

from __future__ import annotations

from typing import ClassVar

BUILD_FAILED = "BuildFailed"


class BuildError(Exception):
    """The build failed; the message says where and why."""

    reason: ClassVar[str] = BUILD_FAILED
    transient: ClassVar[bool] = False


class PathNotFound(BuildError):
    pass


class PathEscape(BuildError):
    pass


class RemoteReference(BuildError):
    pass


class InvalidKustomization(BuildError):
    pass


class KustomizeTimeout(BuildError):
    transient = True


class FileTooLarge(BuildError):
    """A file over the build file-size limit (`kustomize.reading`)."""


class SubstitutionError(Exception):
    """Post-build variable substitution failed for one object (named in the message)."""

    reason: ClassVar[str] = BUILD_FAILED
    transient: ClassVar[bool] = False


class VariableNotSet(SubstitutionError):
    """A `${var}` without a default names a variable that no source defines."""

    def __init__(self, message: str, variable: str) -> None:
        super().__init__(message)
        self.variable = variable
