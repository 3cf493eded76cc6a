"""Sources: fetching what GitRepository, HelmRepository and HelmChart point at.

git         resolve a ref (ls-remote) and check out its tree, via the `git` program
gitrefs     spec.ref → the commit it names, and Flux's revision strings
gitenv      the isolated environment git runs in: credentials, ssh, deadlines
giturl      remote URLs as Flux accepts them (http, https, ssh; no scp-like form)
giterrors   what can go wrong, each error with its Flux reason
semver      versions and Flux's semver range syntax, for spec.ref.semver
helmrepository  the HelmRepository reconciler: a chart repository's index as an artifact
helmchart   the HelmChart reconciler: a chart from a Git path or a chart repository
helmindex   index.yaml: reading it, choosing a chart version, chart URLs
helmhttp    chart repository credentials (basic auth, TLS) and size-limited downloads
helmpackage values files, dependencies and `helm package`, with the errors' reasons
"""
