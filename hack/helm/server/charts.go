package main

// Loaded charts, kept by the digest of the artifact they came from, so a wave of
// releases of one chart loads it once. Helm changes a chart while it installs it
// (dependencies enabled by the values, imported values, aliases), so every request
// gets its own copy of the cached one: the metadata, values and dependency tree are
// copied, the templates and files (never written) shared.

import (
	"container/list"
	"sync"

	ci "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/loader"
	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// chartCacheSize bounds the cache by count: a chart is the engine's artifact,
// itself bounded in size by the source controller.
const chartCacheSize = 64

type chartCache struct {
	mu      sync.Mutex
	size    int
	order   *list.List // of digests, most recently used first
	entries map[string]*cachedChart
}

type cachedChart struct {
	chart   *chart.Chart
	element *list.Element
}

func newChartCache(size int) *chartCache {
	return &chartCache{size: size, order: list.New(), entries: map[string]*cachedChart{}}
}

// load returns a chart of its own for the caller: from the cache when `digest` (the
// artifact's) was loaded before, else read from `path`. Without a digest, or for a
// chart of another API version than v2, it is read every time.
func (c *chartCache) load(path, digest string) (ci.Charter, error) {
	if digest != "" {
		c.mu.Lock()
		entry, ok := c.entries[digest]
		if ok {
			c.order.MoveToFront(entry.element)
		}
		c.mu.Unlock()
		if ok {
			return cloneChart(entry.chart), nil
		}
	}
	loaded, err := loader.Load(path)
	if err != nil {
		return nil, err
	}
	v2, ok := loaded.(*chart.Chart)
	if digest == "" || !ok {
		return loaded, nil
	}
	c.mu.Lock()
	if _, ok := c.entries[digest]; !ok {
		c.entries[digest] = &cachedChart{chart: v2, element: c.order.PushFront(digest)}
		for c.order.Len() > c.size {
			oldest := c.order.Back()
			c.order.Remove(oldest)
			delete(c.entries, oldest.Value.(string))
		}
	}
	c.mu.Unlock()
	return cloneChart(v2), nil
}

func cloneChart(c *chart.Chart) *chart.Chart {
	out := *c
	if c.Metadata != nil {
		md := *c.Metadata
		if md.Dependencies != nil {
			md.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
			for i, d := range c.Metadata.Dependencies {
				dep := *d
				dep.Tags = append([]string(nil), d.Tags...)
				dep.ImportValues = append([]any(nil), d.ImportValues...)
				md.Dependencies[i] = &dep
			}
		}
		out.Metadata = &md
	}
	out.Values = copyMap(c.Values)
	deps := c.Dependencies()
	copies := make([]*chart.Chart, 0, len(deps))
	for _, d := range deps {
		copies = append(copies, cloneChart(d))
	}
	out.SetDependencies(copies...)
	return &out
}

func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyMap(v)
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = copyValue(item)
		}
		return out
	default:
		return v
	}
}
