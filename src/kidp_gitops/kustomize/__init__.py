"""The Kustomization controller: from a source artifact to objects in the cluster, as
kustomize-controller does it. Its pure steps build a path of an extracted artifact with
the real kustomize (with Flux's generated kustomization and overlay fields, every
reference confined to the artifact, and a digest of a build's inputs so an unchanged
build can be skipped) and apply Flux's post-build variable substitution; the reconciler
around them decrypts, applies, prunes, checks health and watches for drift.
"""
