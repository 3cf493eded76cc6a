"""The Helm controller: HelmRelease (helm.toolkit.fluxcd.io/v2) with the real helm program.

    controller    wiring: HelmReleases, the HelmCharts they read, their dependencies
    reconciler    the HelmRelease lifecycle, step by step
    chart         the HelmChart of a release and its artifact
    values        valuesFrom and values, composed; their digest
    release       what Helm has stored about a release (its storage Secrets)
    action        which action comes next; remediation: what follows a failure
    install, upgrade, rollback, uninstall, test    one helm action each (invocation)
    runner        the helm process; kubeconfig: its credentials; binary: where helm is

The engine hands `binary.find` to the source controller too, for `helm package`.
"""
