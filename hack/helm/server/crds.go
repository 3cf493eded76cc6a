package main

// The chart's crds/ directory, by the HelmRelease's policy (spec.install.crds,
// spec.upgrade.crds), as helm-controller applies it: Helm alone creates missing CRDs on
// install only. With server-side apply (the action's, install's default; an upgrade's
// "auto" follows the last release), every CRD of the chart is applied, forcing
// conflicts, whatever the policy but Skip, as helm-controller's Create and CreateReplace
// both do over Helm v4's client. With client-side apply:
//
//	Skip           nothing is applied
//	Create         the CRDs that do not exist are created; existing ones are left alone
//	CreateReplace  the missing ones are created, the existing ones replaced by the
//	               chart's (a PUT of the object read, again on a conflict); none deleted
//
// Only CustomResourceDefinitions are applied: another kind in crds/ is skipped, and the
// helper says so on its standard error. Each CRD is labelled with the HelmRelease that
// applied it. The CRDs created or changed are awaited until the API server serves them
// (Established), then the release's discovery and REST mapper are refreshed, so that its
// templates may hold their custom resources.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	ci "helm.sh/helm/v4/pkg/chart"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/util/retry"
)

const (
	crdsSkip          = "Skip"
	crdsCreate        = "Create"
	crdsCreateReplace = "CreateReplace"
	// How long a CRD created or replaced may take to be served, as Helm waits on install.
	crdEstablishedWithin = 60 * time.Second
	crdPoll              = 200 * time.Millisecond
)

// applyCRDs applies the crds/ directories of `chrt` and of the dependencies `vals`
// enables, by `policy`, server-side when `ssa`; `owner` ("namespace/name" of the
// HelmRelease, or "") labels them.
func applyCRDs(ctx context.Context, cfg *action.Configuration, policy string, ssa bool,
	chrt ci.Charter, vals map[string]any, owner string) error {
	switch policy {
	case crdsSkip:
		return nil
	case crdsCreate, crdsCreateReplace:
	default:
		return fmt.Errorf("unknown CRD policy %q: Skip, Create or CreateReplace", policy)
	}
	v2, ok := chrt.(*chart.Chart)
	if !ok {
		return fmt.Errorf("applying the crds/ directory of a %T chart is not implemented", chrt)
	}
	// A copy: Helm's action processes the dependencies of the chart itself.
	copied := cloneChart(v2)
	if err := chartutil.ProcessDependencies(copied, vals); err != nil {
		return fmt.Errorf("failed to process chart dependencies: %w", err)
	}
	files := copied.CRDObjects()
	if len(files) == 0 {
		return nil
	}
	var applied []*resource.Info
	for _, file := range files {
		if file.File == nil || len(file.File.Data) == 0 {
			continue
		}
		infos, err := cfg.KubeClient.Build(bytes.NewReader(file.File.Data), false)
		if err != nil {
			return fmt.Errorf("failed to read the CustomResourceDefinitions of %s: %w", file.Filename, err)
		}
		for _, info := range infos {
			if gvk := info.Mapping.GroupVersionKind; gvk.Group != "apiextensions.k8s.io" ||
				gvk.Kind != "CustomResourceDefinition" {
				fmt.Fprintf(os.Stderr, "kidp-helm-server: %s: %s %s in crds/ is not a "+
					"CustomResourceDefinition: not applied\n", file.Filename, gvk.Kind, info.Name)
				continue
			}
			labelOwner(info, owner)
			var done bool
			if ssa {
				_, err = cfg.KubeClient.Create(kube.ResourceList{info}, kube.ClientCreateOptionServerSideApply(true, true))
				done = err == nil
				if err != nil {
					err = fmt.Errorf("failed to apply CustomResourceDefinition %s: %w", info.Name, err)
				}
			} else {
				done, err = applyCRD(info, policy)
			}
			if err != nil {
				return err
			}
			if done {
				applied = append(applied, info)
			}
		}
	}
	if len(applied) == 0 {
		return nil
	}
	if err := awaitEstablished(ctx, applied); err != nil {
		return err
	}
	// The release's templates may hold the new kinds: discovery and the mapper must
	// know them (and `.Capabilities.APIVersions` with them).
	if dc, err := cfg.RESTClientGetter.ToDiscoveryClient(); err == nil && dc != nil {
		dc.Invalidate()
	}
	if m, err := cfg.RESTClientGetter.ToRESTMapper(); err == nil {
		if r, ok := m.(meta.ResettableRESTMapper); ok {
			r.Reset()
		}
	}
	return nil
}

// labelOwner labels a CRD with the HelmRelease `owner` ("namespace/name") applying it.
func labelOwner(info *resource.Info, owner string) {
	namespace, name, ok := strings.Cut(owner, "/")
	u, isU := info.Object.(*unstructured.Unstructured)
	if !ok || !isU {
		return
	}
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["helm.toolkit.fluxcd.io/name"] = name
	labels["helm.toolkit.fluxcd.io/namespace"] = namespace
	u.SetLabels(labels)
}

// applyCRD creates or replaces one CRD client-side, by `policy`; whether it did either.
func applyCRD(info *resource.Info, policy string) (bool, error) {
	helper := resource.NewHelper(info.Client, info.Mapping).WithFieldManager("helm")
	if _, err := helper.Create("", true, info.Object); err == nil {
		return true, nil
	} else if !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("failed to create CustomResourceDefinition %s: %w", info.Name, err)
	}
	if policy != crdsCreateReplace {
		return false, nil // Create: an existing CRD is left as it is
	}
	// A replace of what was just read: a write in between is read again, not overwritten.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := helper.Get("", info.Name)
		if err != nil {
			return err
		}
		version, err := meta.NewAccessor().ResourceVersion(live)
		if err != nil {
			return err
		}
		if err := meta.NewAccessor().SetResourceVersion(info.Object, version); err != nil {
			return err
		}
		_, err = helper.Replace("", info.Name, true, info.Object)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("failed to replace CustomResourceDefinition %s: %w", info.Name, err)
	}
	return true, nil
}

// awaitEstablished waits until the API server serves every CRD of `infos`.
func awaitEstablished(ctx context.Context, infos []*resource.Info) error {
	ctx, cancel := context.WithTimeout(ctx, crdEstablishedWithin)
	defer cancel()
	for _, info := range infos {
		helper := resource.NewHelper(info.Client, info.Mapping)
		for {
			obj, err := helper.Get("", info.Name)
			if err == nil && established(obj) {
				break
			}
			select {
			case <-ctx.Done():
				why := "not established"
				if err != nil {
					why = err.Error()
				}
				return fmt.Errorf("CustomResourceDefinition %s was not served within %s: %s", info.Name,
					crdEstablishedWithin, why)
			case <-time.After(crdPoll):
			}
		}
	}
	return nil
}

// established: whether a CRD's Established condition is True.
func established(obj any) bool {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return false
	}
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
