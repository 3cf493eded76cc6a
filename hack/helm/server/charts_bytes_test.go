package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeChart writes a chart whose one template holds `size` bytes.
func writeChart(t *testing.T, name string, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	meta := "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n"
	if err := os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	body := "# " + strings.Repeat("x", size) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "a.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTheChartCacheIsBoundedByBytes(t *testing.T) {
	c := newChartCache(chartCacheSize)
	c.maxBytes, c.maxEntry = 5000, 3000
	for _, name := range []string{"a", "b", "c"} {
		if _, err := c.load(writeChart(t, name, 2000), "sha256:"+name); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := c.entries["sha256:a"]; ok || len(c.entries) != 2 || c.bytes > c.maxBytes {
		t.Fatalf("kept %d charts, %d bytes: the oldest should have gone", len(c.entries), c.bytes)
	}
	if _, err := c.load(writeChart(t, "big", 4000), "sha256:big"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.entries["sha256:big"]; ok {
		t.Fatal("a chart over maxEntry was cached")
	}
	if _, ok := c.entries["sha256:c"]; !ok {
		t.Fatal("an uncached large chart evicted a small one")
	}
}
