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

// chartCacheBytes bounds the cache by the bytes its charts hold, so 64 large charts of
// many tenants do not add up to the helper's memory; a chart over maxCachedChart is
// loaded for each request and not kept.
const (
	chartCacheBytes = 256 << 20
	maxCachedChart  = 4 << 20
)

type chartCache struct {
	mu                 sync.Mutex
	size               int
	bytes              int // held now, of at most maxBytes
	maxBytes, maxEntry int
	order              *list.List // of digests, most recently used first
	entries            map[string]*cachedChart
}

type cachedChart struct {
	chart   *chart.Chart
	element *list.Element
	bytes   int
}

func newChartCache(size int) *chartCache {
	return &chartCache{
		size: size, maxBytes: chartCacheBytes, maxEntry: maxCachedChart,
		order: list.New(), entries: map[string]*cachedChart{},
	}
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
	weight := chartBytes(v2)
	if weight > c.maxEntry {
		return loaded, nil
	}
	c.mu.Lock()
	if _, ok := c.entries[digest]; !ok {
		c.entries[digest] = &cachedChart{chart: v2, element: c.order.PushFront(digest), bytes: weight}
		c.bytes += weight
		for c.order.Len() > c.size || c.bytes > c.maxBytes {
			oldest := c.order.Back()
			c.order.Remove(oldest)
			c.bytes -= c.entries[oldest.Value.(string)].bytes
			delete(c.entries, oldest.Value.(string))
		}
	}
	c.mu.Unlock()
	return cloneChart(v2), nil
}

// clear forgets every chart (the memory bound, guard.go): each is loaded again when
// asked for.
func (c *chartCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	c.entries = map[string]*cachedChart{}
	c.bytes = 0
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

// chartBytes is what a loaded chart holds of its archive: Raw has every file the
// loader read (subcharts' too; templates and files share its bytes), else the parts.
func chartBytes(c *chart.Chart) int {
	n := 0
	for _, f := range c.Raw {
		n += len(f.Data)
	}
	if n > 0 {
		return n
	}
	n = len(c.Schema)
	for _, f := range c.Templates {
		n += len(f.Data)
	}
	for _, f := range c.Files {
		n += len(f.Data)
	}
	for _, d := range c.Dependencies() {
		n += chartBytes(d)
	}
	return n
}
