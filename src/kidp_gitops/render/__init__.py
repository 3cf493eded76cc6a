"""Building a path of an artifact into objects, offline, as kustomize-controller does.

`build` (the real kustomize, with Flux's generated kustomization and overlay fields),
`direct` (plain directories read without a process), `kustomization`, `overlay`, `inputs`
(the files a build may read, confined to the artifact), `reading` (bounded file reads),
`generatorfiles` (SOPS files kustomize reads, decrypted first), `runner` (the kustomize
program, sandboxed), `envsubst` and `substitute` (post-build variables), `errors`.

It talks to no cluster: callers pass the data of Secrets and ConfigMaps in. The
controller (`kustomize`), `kidp validate` and the CLI's local builds all use it.
"""
