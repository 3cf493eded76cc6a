"""The Kustomization controller, and only it.

The pure steps live in their own packages: `render` builds a path of an artifact into
objects (kustomize, Flux's overlay fields, post-build substitution), `sops` decrypts,
`goyaml` reads and writes YAML as Go's yaml.v3 does. Here: `pipeline` chains build,
decrypt and substitute for a Kustomization (reading the Secrets and ConfigMaps it
names); `apply` is its policy for the resource manager (`kube.ssa`); `prune`,
`health` (kstatus), `drift` (watching what was applied), `inventory` (Flux's entries),
`report` (events and conditions); `reconciler` tells the whole story; `controller`
wires it.
"""
