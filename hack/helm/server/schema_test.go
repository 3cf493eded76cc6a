package main

import (
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
)

func schemaChart(schema string) *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "web", Version: "1.0.0"},
		Values:   map[string]any{"replicas": 1},
		Schema:   []byte(schema),
	}
}

// A reference outside the schema is refused by name, never read: not a file of the
// helper's (its standard input carried other tenants' requests), not an address.
func TestASchemaFollowsNoReferenceOutsideItself(t *testing.T) {
	var asked atomic.Int64
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = http.Serve(listener, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			asked.Add(1)
			_, _ = w.Write([]byte(`{"type":"object"}`))
		}))
	}()
	defer listener.Close()
	secret, err := os.CreateTemp(t.TempDir(), "secret*.json")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = secret.WriteString(`{"type":"object"}`)
	secret.Close()
	for _, ref := range []string{
		"file:///proc/self/fd/0",
		"file://" + secret.Name(),
		"http://" + listener.Addr().String() + "/schema.json",
		"https://" + listener.Addr().String() + "/schema.json",
		"other.json",
	} {
		err := checkValues(schemaChart(`{"properties":{"replicas":{"$ref":"`+ref+`"}}}`), map[string]any{})
		if err == nil || !strings.Contains(err.Error(), "follows only references inside the schema") {
			t.Fatalf("$ref %s: %v", ref, err)
		}
	}
	if asked.Load() != 0 {
		t.Fatalf("the schema's references reached an HTTP server %d times", asked.Load())
	}
}

// References inside the schema work as in Helm, and a violation reads in Helm's words.
func TestASchemaChecksValuesAsHelm(t *testing.T) {
	schema := `{"$defs":{"count":{"type":"integer","minimum":1}},
		"properties":{"replicas":{"$ref":"#/$defs/count"}},"required":["replicas"]}`
	if err := checkValues(schemaChart(schema), map[string]any{"replicas": 3}); err != nil {
		t.Fatalf("valid values refused: %v", err)
	}
	err := checkValues(schemaChart(schema), map[string]any{"replicas": 0})
	if err == nil {
		t.Fatal("replicas 0 passed a minimum of 1")
	}
	want := "values don't meet the specifications of the schema(s) in the following chart(s):\nweb:\n"
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "replicas") ||
		strings.Contains(err.Error(), "jsonschema validation failed") {
		t.Fatalf("not Helm's words: %q", err)
	}
	// The chart's defaults are coalesced under the values, as Helm checks them.
	if err := checkValues(schemaChart(schema), map[string]any{}); err != nil {
		t.Fatalf("the chart's default replicas not checked: %v", err)
	}
}

// The helper's standard input is /dev/null once the requests moved to their own descriptor.
func TestRequestsMoveOffStandardInput(t *testing.T) {
	saved, err := syscall.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Dup3(saved, 0, 0); syscall.Close(saved) }()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(r.Fd()), 0, 0); err != nil {
		t.Fatal(err)
	}
	r.Close()
	requests, err := requestsOffStdin()
	if err != nil {
		t.Fatal(err)
	}
	defer requests.Close()
	if requests.Fd() == 0 {
		t.Fatal("requests still on descriptor 0")
	}
	_, _ = w.WriteString("{\"id\":1}\n")
	w.Close()
	stdin, err := os.ReadFile("/proc/self/fd/0")
	if err != nil || len(stdin) != 0 {
		t.Fatalf("standard input read %q (%v), not nothing", stdin, err)
	}
	buf := make([]byte, 64)
	n, _ := requests.Read(buf)
	if string(buf[:n]) != "{\"id\":1}\n" {
		t.Fatalf("the request pipe gave %q", buf[:n])
	}
}

// A schema whose references multiply (allOf of "#" four times, nested values) costs
// 4^depth: it is checked under the render's watch, so the render bound ends it.
func TestASchemaIsCheckedUnderTheRenderWatch(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n")
	write("values.schema.json", `{"properties":{"x":{"allOf":[{"$ref":"#"},{"$ref":"#"},{"$ref":"#"},{"$ref":"#"}]}}}`)
	nested := "1"
	for range 8 {
		nested = `{"x":` + nested + `}`
	}
	write("values.json", nested)
	s := &server{charts: newChartCache(chartCacheSize), renders: newRenders(wallClock(), false)}
	done := make(chan error, 1)
	go func() {
		done <- s.checkSchema(request{ID: 9, RenderTimeout: 60}, dir, &chartFlags{values: []string{dir + "/values.json"}}, nil)
	}()
	watched := false
	for !watched {
		select {
		case err := <-done:
			t.Fatalf("checked (%v) without the render's watch ever seen", err)
		default:
		}
		s.renders.mu.Lock()
		_, watched = s.renders.started[9]
		s.renders.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatalf("valid values refused: %v", err)
	}
	if _, _, ok := s.renders.overrun(s.renders.clock() + time.Hour); ok {
		t.Fatal("the watch outlived the check")
	}
}
