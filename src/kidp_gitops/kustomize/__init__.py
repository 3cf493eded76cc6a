"""The Kustomization controller.

The pure steps, which never talk to the API server: `build` (the real kustomize over a
path of an extracted artifact, with Flux's generated kustomization and overlay fields;
`digest` of a build's inputs), `overlay`, `kustomization`, `inputs` (files a build may
read, confined to the artifact), `runner` (the kustomize program), `direct` (plain
directories read without a process), `yamlio`, `envsubst` and `substitute` (post-build
variables), `sops` and `sopsformat` (SOPS decryption), `inventory` (Flux's entries).

The steps against the cluster: `apply` (dry run, staged server-side apply), `prune`,
`health` (kstatus), `drift` (watching what was applied). `pipeline` chains build,
decrypt and substitute; `reconciler` tells the whole story; `controller` wires it.
"""
