package main

import (
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

// A release that disables a subchart must not disable it for the next release of the
// same cached chart: Helm rewrites a chart's dependencies, metadata and values in place.
func TestACloneKeepsTheCachedChartIntact(t *testing.T) {
	sub := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "sub", Version: "1.0.0"},
		Values:   map[string]any{"enabled": true, "nested": map[string]any{"a": "b"}},
	}
	parent := &chart.Chart{
		Metadata: &chart.Metadata{
			APIVersion: "v2", Name: "parent", Version: "1.0.0",
			Dependencies: []*chart.Dependency{{Name: "sub", Version: "1.0.0", Condition: "sub.enabled"}},
		},
		Values: map[string]any{"sub": map[string]any{"enabled": true}},
	}
	parent.AddDependency(sub)

	clone := cloneChart(parent)
	off := map[string]any{"sub": map[string]any{"enabled": false}}
	if err := chartutil.ProcessDependencies(clone, off); err != nil {
		t.Fatal(err)
	}
	if len(clone.Dependencies()) != 0 {
		t.Fatalf("the clone keeps a disabled subchart: %d", len(clone.Dependencies()))
	}
	if len(parent.Dependencies()) != 1 || len(parent.Metadata.Dependencies) != 1 {
		t.Fatalf("the cached chart lost its subchart")
	}
	if parent.Metadata.Dependencies[0].Name != "sub" || sub.Parent() != parent {
		t.Fatalf("the cached chart's dependency changed")
	}

	again := cloneChart(parent)
	on := map[string]any{"sub": map[string]any{"enabled": true}}
	if err := chartutil.ProcessDependencies(again, on); err != nil {
		t.Fatal(err)
	}
	if len(again.Dependencies()) != 1 || again.Dependencies()[0].Parent() != again {
		t.Fatalf("a second clone does not have its own enabled subchart")
	}
	again.Dependencies()[0].Values["nested"].(map[string]any)["a"] = "changed"
	if sub.Values["nested"].(map[string]any)["a"] != "b" {
		t.Fatalf("a clone's values are the cached chart's")
	}
}
