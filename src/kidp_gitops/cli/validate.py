"""`kidp validate [PATH]`: the pre-commit and pull-request checks, offline.

Prints one line per finding (`file:line: severity [check] object: message`) on stdout,
or a JSON document with `-o json`, and a summary on stderr. Exit 0: valid; 1: findings
that fail the run (errors, and with --strict warnings too); 2: a usage error (no such
directory, an unknown Kubernetes version, an unreadable key file); 3: an internal error.
"""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kidp_gitops.cli import output
from kidp_gitops.cli.errors import CliError

if TYPE_CHECKING:
    from kidp_gitops import sops
    from kidp_gitops import validate as checks

USAGE = 2
INTERNAL = 3
# `kidp_gitops.validate`'s, written here (as its ALLOW_ANNOTATION is, in the help) so that
# `--help` does not load the checks, which load the API types; test_validate.py holds
# them equal.
DEFAULT_KUBERNETES_VERSION = "1.36"


class Format(enum.StrEnum):
    table = "table"
    json = "json"


def validate(
    path: Annotated[Path, typer.Argument(help="The root of the repository to validate.")] = Path(
        "."
    ),
    kubernetes_version: Annotated[
        str,
        typer.Option(
            "--kubernetes-version",
            metavar="VERSION",
            help="The Kubernetes minor version whose schemas apply.",
        ),
    ] = DEFAULT_KUBERNETES_VERSION,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="NAME",
            help="Name of the GitRepository that serves this repository (repeatable). "
            "Without it, Kustomizations whose spec.path exists here are taken as its.",
        ),
    ] = None,
    sops_age_key_file: Annotated[
        Path | None,
        typer.Option(
            "--sops-age-key-file",
            envvar="SOPS_AGE_KEY_FILE",
            metavar="FILE",
            help="age identities to decrypt sops files with, to check their MAC.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on warnings too (unresolved variables…).")
    ] = False,
    output_format: Annotated[
        Format, typer.Option("--output", "-o", help="table (one line per finding) or json.")
    ] = Format.table,
) -> None:
    """Validate a GitOps repository offline, for pre-commit hooks and pull requests.

    Checks YAML syntax and duplicate keys; Flux objects against kidp's CRD types (unknown
    fields, wrong types); builds every Kustomization whose source is this repository (or,
    when there is none, every directory with a kustomization.yaml) with the controller's
    build and the inline postBuild.substitute values; checks every built object against
    Kubernetes' OpenAPI schemas of --kubernetes-version, or the CRD of its kind when the
    repository holds it (other kinds are reported as skipped); objects built twice; Secrets
    in plaintext (annotate a Secret validate.kidp.dev/allow-plaintext: "true" when its values are
    not secret); sops files (metadata, MAC, recipients, every value encrypted; with an age
    key also decryption and the MAC itself).

    Exit codes: 0 valid, 1 findings, 2 usage error, 3 internal error.
    """
    from kidp_gitops import validate as checks

    if not path.is_dir():
        raise CliError(f"{path} is not a directory", USAGE)
    options = checks.Options(
        kubernetes_version=kubernetes_version,
        sources=tuple(source or ()),
        keyring=_keyring(sops_age_key_file),
    )
    try:
        report = checks.validate(path, options)
    except checks.UnsupportedVersion as err:
        raise CliError(str(err), USAGE) from None
    except Exception as err:  # a bug of ours: say so, with an exit code apart from findings
        raise CliError(f"internal error: {type(err).__name__}: {err}", INTERNAL) from err
    if output_format is Format.json:
        typer.echo(json.dumps(report.to_json(strict=strict), indent=2))
    else:
        for finding in report.sorted():
            typer.echo(finding.text())
        _summary(report, strict=strict)
    if report.failed(strict=strict):
        raise typer.Exit(1)


def _keyring(key_file: Path | None) -> sops.Keyring | None:
    from kidp_gitops import sops

    if key_file is None:
        return None
    try:
        data = key_file.read_bytes()
    except OSError as err:
        raise CliError(f"cannot read the age key file {key_file}: {err.strerror}", USAGE) from None
    try:
        return sops.Keyring.from_secret_data({f"{os.path.basename(key_file)}.agekey": data})
    except sops.DecryptionError as err:
        raise CliError(f"the age key file {key_file} is not usable: {err}", USAGE) from None


def _summary(report: checks.Report, *, strict: bool) -> None:
    counts = (
        f"{report.files} files, {report.objects} objects from {len(report.builds)} builds, "
        f"Kubernetes {report.kubernetes_version}"
    )
    errors, warnings = report.count("error"), report.count("warning")
    if report.failed(strict=strict):
        output.stderr().print(
            f"✗ {errors} errors, {warnings} warnings ({counts})", markup=False, highlight=False
        )
    else:
        noted = f", {warnings} warnings" if warnings else ""
        output.stderr().print(f"✔ valid{noted} ({counts})", markup=False, highlight=False)
