package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// child runs this test binary again as a child doing `what` (see TestGuardChild
// below), and returns how it exited (0: it lived to the end) and what it said.
func child(t *testing.T, what string) (int, string) {
	t.Helper()
	code, said, _ := childMeasured(t, what)
	return code, said
}

// childMeasured is `child`, and the most resident memory the child held, in bytes.
func childMeasured(t *testing.T, what string) (int, string, int64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=TestGuardChild")
	cmd.Env = append(os.Environ(), "KIDP_GUARD_CHILD="+what)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var held int64
	if usage, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		held = usage.Maxrss << 10 // KiB on Linux
	}
	if err == nil {
		return 0, stderr.String(), held
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the child did not run: %v (%s)", err, stderr.String())
	}
	return exit.ExitCode(), stderr.String(), held
}

// doubleWithoutEnd is what a template doubling a string does: it holds all it made,
// 16 TiB after forty steps.
func doubleWithoutEnd(t *testing.T) {
	held := []string{"xxxxxxxxxxxxxxxx"}
	for range 40 {
		last := held[len(held)-1]
		held = append(held, last+last)
	}
	t.Fatal("doubled past 16 TiB without ending")
}

// spin is what a template looping without end does: CPU, and nothing else.
func spin() {
	for spin := 0; ; spin++ {
		if spin < 0 {
			break
		}
	}
}

// TestGuardChild is the child's part: it does nothing unless run by `child`.
func TestGuardChild(t *testing.T) {
	switch os.Getenv("KIDP_GUARD_CHILD") {
	case "memory":
		// As main.go bounds the helper: the address-space cap, then the guard.
		if err := limitAddressSpace(64 << 20); err != nil {
			t.Fatal(err)
		}
		go guardMemory(64<<20, func() {})
		doubleWithoutEnd(t)
	case "address-cap":
		if err := limitAddressSpace(64 << 20); err != nil {
			t.Fatal(err)
		}
		doubleWithoutEnd(t)
	case "cpu":
		if err := limitCPU(1); err != nil {
			t.Fatal(err)
		}
		spin()
		t.Fatal("spun past its CPU time bound without ending")
	case "render":
		r := newRenders(wallClock(), false)
		go r.guard()
		r.begin(7, 100*time.Millisecond)
		time.Sleep(10 * time.Second)
		t.Fatal("a render past its bound did not end the process")
	case "render-cpu-waiting":
		// Alone, a render that waits (for a core, for the API server) uses no CPU.
		r := newRenders(cpuClock, true)
		go r.guard()
		r.begin(7, 100*time.Millisecond)
		time.Sleep(2 * time.Second)
		os.Exit(0)
	case "render-cpu-spinning":
		r := newRenders(cpuClock, true)
		go r.guard()
		r.begin(7, 100*time.Millisecond)
		spin()
	case "memory-cached":
		// What the helper keeps for later (charts, clients) is let go before the bound
		// ends anything.
		var mu sync.Mutex
		cached := make([][]byte, 0, 12)
		for range 12 {
			block := make([]byte, 8<<20)
			for i := range block {
				block[i] = 1
			}
			cached = append(cached, block)
		}
		go guardMemory(64<<20, func() {
			mu.Lock()
			cached = nil
			mu.Unlock()
		})
		time.Sleep(2 * time.Second)
		mu.Lock()
		dropped := cached == nil
		mu.Unlock()
		if !dropped {
			t.Fatal("the caches were not dropped")
		}
		os.Exit(0)
	}
}

func TestCachesAreDroppedBeforeTheMemoryBoundEndsTheProcess(t *testing.T) {
	if code, said := child(t, "memory-cached"); code != 0 {
		t.Fatalf("ended with exit %d over memory its caches held: %s", code, said)
	}
}

// Alone, the render's bound is CPU time: waiting (a loaded machine) does not convict a
// chart, spinning does.
func TestAloneARendersBoundIsCPUTime(t *testing.T) {
	if code, said := child(t, "render-cpu-waiting"); code != 0 {
		t.Fatalf("a render that used no CPU ended the process: exit %d, %s", code, said)
	}
	code, said := child(t, "render-cpu-spinning")
	if code != exitRender || !strings.Contains(said, "request 7 rendered") || !strings.Contains(said, "of CPU time") {
		t.Fatalf("exit %d, said %q", code, said)
	}
}

// The guard ends a process past its memory bound, or, when the allocations outrun its
// look, the address-space cap does; either way the process never holds more than the
// cap. Without the cap a child reached 24 GiB, and the kernel's OOM killer ended it.
func TestMemoryBoundEndsTheProcess(t *testing.T) {
	code, said, held := childMeasured(t, "memory")
	guard := code == exitMemory && strings.Contains(said, "memory bound exceeded")
	backstop := code == 2 && strings.Contains(said, "out of memory")
	if !guard && !backstop {
		t.Fatalf("exit %d, said %q", code, opening(said))
	}
	if most := int64(addressCap(64 << 20)); held > most {
		t.Fatalf("held %d MiB, more than the address-space cap allows (%d MiB)", held>>20, most>>20)
	}
}

// The cap alone, whatever the guard: an allocation past it ends the process the way the
// engine counts as the memory bound's (src/kidp_gitops/helm/bounds.py `convicts`).
func TestTheAddressSpaceCapEndsAnAllocationWithoutEnd(t *testing.T) {
	code, said, held := childMeasured(t, "address-cap")
	if code != 2 || !strings.Contains(said, "fatal error: out of memory") {
		t.Fatalf("exit %d, said %q", code, opening(said))
	}
	if most := int64(addressCap(64 << 20)); held > most {
		t.Fatalf("held %d MiB, more than the address-space cap allows (%d MiB)", held>>20, most>>20)
	}
}

// opening is the start of a child's last words: Go's end prints its reason, then every
// goroutine's stack.
func opening(said string) string {
	if len(said) > 2000 {
		return said[:2000]
	}
	return said
}

// The kernel's SIGXCPU ends the process with a code of its own, not the SIGKILL (-9) of
// the hard limit that any outside kill or the OOM killer also gives.
func TestTheCPUBoundEndsTheProcessWithItsOwnCode(t *testing.T) {
	code, said := child(t, "cpu")
	if code != exitCPU || !strings.Contains(said, "CPU time bound exceeded") {
		t.Fatalf("exit %d, said %q", code, said)
	}
}

func TestARenderPastItsBoundEndsTheProcess(t *testing.T) {
	code, said := child(t, "render")
	if code != exitRender || !strings.Contains(said, "request 7 rendered") {
		t.Fatalf("exit %d, said %q", code, said)
	}
}

func TestARenderThatEndedIsNotWatched(t *testing.T) {
	var now time.Duration
	r := newRenders(func() time.Duration { return now }, false)
	r.begin(1, time.Millisecond)
	r.begin(2, time.Hour)
	r.begin(3, 0) // no bound: not watched
	r.end(1)
	if id, _, ok := r.overrun(time.Minute); ok {
		t.Fatalf("request %d reported past its bound", id)
	}
	if id, _, ok := r.overrun(2 * time.Hour); !ok || id != 2 {
		t.Fatalf("request 2 not reported past its bound: %d %v", id, ok)
	}
}

type body struct{ io.Reader }

func (body) Close() error { return nil }

type fixed []byte

func (f fixed) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: body{bytes.NewReader(f)}}, nil
}

func TestAResponseIsReadUpToItsBound(t *testing.T) {
	read := func(size int, url string) error {
		rt := &boundedResponses{next: fixed(bytes.Repeat([]byte("x"), size)), limit: 1000}
		req, _ := http.NewRequest("GET", url, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		if err == nil && len(got) != size {
			t.Fatalf("read %d of %d bytes", len(got), size)
		}
		return err
	}
	if err := read(1000, "https://remote/api/v1/secrets"); err != nil {
		t.Fatalf("a body of the bound's size: %v", err)
	}
	err := read(1001, "https://remote/api/v1/secrets")
	if err == nil || !strings.Contains(err.Error(), "the response of remote is larger than 1000 bytes") {
		t.Fatalf("a body past the bound: %v", err)
	}
	// A watch streams for the whole wait: more, still bounded.
	if err := read(5000, "https://remote/api/v1/pods?watch=true"); err != nil {
		t.Fatalf("a watch's stream: %v", err)
	}
	if err := read(1000*watchShare+1, "https://remote/api/v1/pods?watch=true"); err == nil {
		t.Fatal("a watch's stream past its bound was read")
	}
}

func TestEachIdentityHasItsOwnDiscoveryAndValidators(t *testing.T) {
	kubeconfig := []byte(`{"apiVersion":"v1","kind":"Config",
		"clusters":[{"name":"c","cluster":{"server":"https://127.0.0.1:1"}}],
		"users":[{"name":"u","user":{"token":"t"}}],
		"contexts":[{"name":"c","context":{"cluster":"c","user":"u"}}],"current-context":"c"}`)
	c := newClusters()
	engine, err := c.get(kubeconfig, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := c.get(kubeconfig, "system:serviceaccount:team-a:deployer", 0)
	if err != nil {
		t.Fatal(err)
	}
	bounded, err := c.get(kubeconfig, "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.get(kubeconfig, "system:serviceaccount:team-a:deployer", 0)
	if again != tenant {
		t.Fatal("the same identity should share its client set-up")
	}
	for _, g := range []*restGetter{tenant, bounded} {
		if g == engine || g.discovery == engine.discovery || g.factory == engine.factory {
			t.Fatal("two identities share discovery or kubectl's validators")
		}
	}
	if tenant.config.Impersonate.UserName != "system:serviceaccount:team-a:deployer" || engine.config.Impersonate.UserName != "" {
		t.Fatal("the impersonated user is not the request's")
	}
}

func TestIdleAndLeastUsedClientSetUpsAreDropped(t *testing.T) {
	config := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Config",
			"clusters":[{"name":"c%d","cluster":{"server":"https://127.0.0.1:1"}}],
			"users":[{"name":"u","user":{"token":"t"}}],
			"contexts":[{"name":"c","context":{"cluster":"c%d","user":"u"}}],"current-context":"c"}`, i, i))
	}
	c := newClusters()
	c.max = 3
	get := func(i int) *restGetter {
		g, err := c.get(config(i), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	first := get(1)
	get(2)
	get(3)
	if get(1) != first {
		t.Fatal("a set-up in use was not reused")
	}
	get(4) // a tenant's next identity: the least recently used (2) goes
	if len(c.entries) != 3 {
		t.Fatalf("%d set-ups kept, at most 3", len(c.entries))
	}
	if get(1) != first {
		t.Fatal("the most recently used set-up was dropped")
	}
	c.dropIdle(time.Now().Add(idleAfter / 2))
	if len(c.entries) != 3 {
		t.Fatal("set-ups in use were dropped")
	}
	c.dropIdle(time.Now().Add(idleAfter + time.Second))
	if len(c.entries) != 0 {
		t.Fatalf("%d idle set-ups kept", len(c.entries))
	}
}

func TestARendersAPIRequestFailsOnItsOwnAgainstAStalledServer(t *testing.T) {
	// A tenant's API server that accepts a `lookup` and never answers it.
	stalled := make(chan struct{})
	defer close(stalled)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stalled:
		case <-r.Context().Done():
		}
	}))
	defer server.Close()
	kubeconfig := []byte(`{"apiVersion":"v1","kind":"Config",
		"clusters":[{"name":"c","cluster":{"server":"` + server.URL + `"}}],
		"users":[{"name":"u","user":{"token":"t"}}],
		"contexts":[{"name":"c","context":{"cluster":"c","user":"u"}}],"current-context":"c"}`)
	g, err := newClusters().get(kubeconfig, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	render := &renderingGetter{RESTClientGetter: g, begin: func() {}, timeout: 200 * time.Millisecond}
	config, err := render.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if g.config.Timeout != 0 {
		t.Fatal("the render's timeout leaked into the cluster's shared configuration")
	}
	client, err := rest.HTTPClientFor(config)
	if err != nil {
		t.Fatal(err)
	}
	// Without the render's timeout this request waits for as long as the server holds it.
	resp, err := client.Get(server.URL + "/api/v1/namespaces/x/configmaps/y")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a stalled API request of the render was answered")
	}
}

func TestALookupMayTakeAQuarterOfTheRenderButNeverLessThanTheFloor(t *testing.T) {
	for bound, want := range map[time.Duration]time.Duration{
		60 * time.Second: 15 * time.Second,
		10 * time.Second: 2500 * time.Millisecond,
		// An operator's render limit under 10 s: the lookups keep what 10 s gave them.
		3 * time.Second: 2500 * time.Millisecond,
	} {
		if got := lookupTimeout(bound); got != want {
			t.Errorf("a render bound of %s gives its lookups %s, want %s", bound, got, want)
		}
	}
}
