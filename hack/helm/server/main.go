// Command kidp-helm-server runs Helm actions for the kidp-gitops engine without a helm
// process per action: it is started once by the engine (src/kidp_gitops/helm/runner.py)
// and serves requests over its standard input and output, one JSON document a line.
//
//	request   {"id": 7, "argv": ["upgrade", "web", "/charts/web", "--values", …],
//	           "kubeconfig": {…}, "chartDigest": "sha256:…", "renderTimeout": 75}
//	cancel    {"cancel": 7}
//	read      {"read": 7}  the request was read and its action starts
//	response  {"id": 7, "output": "…"}  or  {"id": 7, "error": "UPGRADE FAILED: …"}
//
// The "read" line tells the engine which requests could have had a part in an end of
// the helper (a chart's templates past a bound, a crash): one it sent that was never
// read did nothing here, and is not blamed.
//
// `argv` is the helm command line the engine would have run (the same commands and
// flags, see actions.go): the flags are parsed into Helm's own pkg/action types, so the
// release logic, storage (Secrets), hooks, kstatus waits, tests and rollbacks are
// Helm's. Requests run concurrently; a cancel cancels the request's context. The
// Kubernetes clients are kept per kubeconfig and identity (clients.go), loaded charts
// per digest (charts.go), both bounded. A chart's templates that exhaust the memory
// bound or render past their time end the process with a code that says so (guard.go).
//
// The server logs nothing of a request: its errors go back in the response (the engine
// redacts and reports them), and a kubeconfig or values never reach standard error. It
// exits when its standard input closes (the engine went away), cancelling what runs.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"helm.sh/helm/v4/pkg/kube"
)

// maxLine bounds one request: the values travel in a file, the kubeconfig inline.
const maxLine = 16 << 20

// drain is how long in-flight requests get to end after standard input closes.
const drain = 5 * time.Second

// maxError bounds the error an answer carries: a chart's own error (`fail` of any
// length) must not make an answer line longer than the engine reads.
const maxError = 4 << 10

type request struct {
	ID          int64           `json:"id"`
	Cancel      *int64          `json:"cancel,omitempty"`
	Argv        []string        `json:"argv"`
	Kubeconfig  json.RawMessage `json:"kubeconfig"`
	ChartDigest string          `json:"chartDigest"`
	// Owner: who asks (the HelmRelease and its cluster, as the engine names them); the
	// busy refusal is by it, never by the target release alone, which a tenant may
	// name in another tenant's namespace. Empty: the release's namespace/name.
	Owner string `json:"owner"`
	// RenderTimeout: how long the chart's templates may render, in seconds (0: no bound).
	RenderTimeout float64 `json:"renderTimeout"`
	// MaxResponse: the largest response body read from the cluster (0: no bound), set
	// for a remote cluster, whose API server is a tenant's.
	MaxResponse int64 `json:"maxResponse"`
}

type response struct {
	ID     int64  `json:"id"`
	Output string `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
	// Busy: refused, another request for the release still runs here.
	Busy bool `json:"busy,omitempty"`
}

// read says that request ID was read and its action started.
type read struct {
	ID int64 `json:"read"`
}

type server struct {
	clusters *clusters
	charts   *chartCache
	renders  *renders

	mu      sync.Mutex
	running map[int64]context.CancelFunc
	// releases: the busyKey (who asks, on which cluster) of each request acting on a
	// release right now. Helm does not stop every action when cancelled (it writes
	// storage late), so the same owner's next request is refused, not run beside it.
	releases map[string]bool
	out      *json.Encoder
	outMu    sync.Mutex
	wg       sync.WaitGroup
}

func main() {
	// Helm logs through slog; what it says about a release (resource names, waits)
	// is not the engine's to keep, and nothing of it may carry a credential.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	// Helm names its field manager after the program; the releases are the helm CLI's
	// ("helm" owns their fields), and the engine's drift correction applies as "helm".
	kube.ManagedFieldsManager = "helm"
	renderClock, cpu := wallClock(), os.Getenv("KIDP_HELM_SERVER_RENDER_CLOCK") == "cpu"
	if cpu {
		renderClock = cpuClock
	}
	s := &server{
		clusters: newClusters(),
		charts:   newChartCache(chartCacheSize),
		renders:  newRenders(renderClock, cpu),
		running:  map[int64]context.CancelFunc{},
		releases: map[string]bool{},
		out:      json.NewEncoder(os.Stdout),
	}
	go s.clusters.closeIdle()
	go s.renders.guard()
	if limit := envUint("KIDP_HELM_SERVER_MEMORY_LIMIT"); limit > 0 {
		if err := limitAddressSpace(limit); err != nil {
			fmt.Fprintf(os.Stderr, "kidp-helm-server: capping its address space: %v\n", err)
			os.Exit(1)
		}
		go guardMemory(limit, s.dropCaches)
	}
	if seconds := envUint("KIDP_HELM_SERVER_CPU_SECONDS"); seconds > 0 {
		if err := limitCPU(seconds); err != nil {
			fmt.Fprintf(os.Stderr, "kidp-helm-server: limiting CPU time: %v\n", err)
			os.Exit(1)
		}
	}
	// For a benchmark's profile (bench/RESULTS.md): a CPU profile of the whole life.
	if path := os.Getenv("KIDP_HELM_SERVER_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	requests, err := requestsOffStdin()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kidp-helm-server: moving its requests off standard input: %v\n", err)
		os.Exit(1)
	}
	err = s.serve(requests)
	killPlugins() // what the drain left running
	if err != nil {
		fmt.Fprintf(os.Stderr, "kidp-helm-server: %v\n", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// requestsOffStdin moves the request pipe from descriptor 0 to a descriptor of its own
// (closed on exec: no plugin inherits it) and points 0 at /dev/null. Anything in the
// process that opens "standard input" — a path like /proc/self/fd/0 in a chart's
// content, a post-renderer's child — reads nothing, not other tenants' requests.
func requestsOffStdin() (*os.File, error) {
	fd, err := syscall.Dup(0)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	if err := syscall.Dup3(int(null.Fd()), 0, 0); err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "requests"), nil
}

func (s *server) serve(in io.Reader) error {
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 64<<10), maxLine)
	for lines.Scan() {
		var req request
		if err := json.Unmarshal(lines.Bytes(), &req); err != nil {
			return fmt.Errorf("unreadable request: %w", err)
		}
		if req.Cancel != nil {
			s.cancel(*req.Cancel)
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		key := busyKey(req)
		s.mu.Lock()
		if key != "" && s.releases[key] {
			s.mu.Unlock()
			cancel()
			s.answer(response{ID: req.ID, Busy: true, Error: "an action of " + key + " is still running"})
			continue
		}
		if key != "" {
			s.releases[key] = true
		}
		s.running[req.ID] = cancel
		s.mu.Unlock()
		s.answer(read{ID: req.ID})
		s.wg.Add(1)
		go s.handle(ctx, req)
	}
	// The engine is gone (or closed the pipe): cancel everything, give the actions a
	// moment to record their failure in Helm's storage, and go.
	s.mu.Lock()
	for _, cancel := range s.running {
		cancel()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drain):
	}
	return lines.Err()
}

func (s *server) cancel(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cancel, ok := s.running[id]; ok {
		cancel()
	}
}

func (s *server) handle(ctx context.Context, req request) {
	defer s.wg.Done()
	resp := response{ID: req.ID}
	output, err := s.run(ctx, req)
	s.renders.end(req.ID)
	if err != nil {
		resp.Error = truncate(err.Error(), maxError)
	} else {
		resp.Output = output
	}
	s.mu.Lock()
	if cancel, ok := s.running[req.ID]; ok {
		cancel()
		delete(s.running, req.ID)
	}
	delete(s.releases, busyKey(req))
	s.mu.Unlock()
	s.answer(resp)
}

// dropCaches lets go of what the helper keeps for later requests (the memory bound
// looks again after the collector ran): requests in flight keep what they hold.
func (s *server) dropCaches() {
	s.charts.clear()
	s.clusters.clear()
}

func (s *server) answer(resp any) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if err := s.out.Encode(resp); err != nil {
		fmt.Fprintf(os.Stderr, "kidp-helm-server: writing a response: %v\n", err)
	}
}

// run serves one request, turning a panic of Helm's into an error of the request
// rather than the end of every request in flight.
func (s *server) run(ctx context.Context, req request) (output string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("helm panicked: %v", r)
		}
	}()
	return s.act(ctx, req)
}

// busyKey is what a request is refused as busy by: its owner, else its release.
func busyKey(req request) string {
	key := releaseKey(req.Argv)
	if key != "" && req.Owner != "" {
		return req.Owner
	}
	return key
}

// releaseKey is "namespace/name" of the release an action acts on ("" for what is no
// action): argv is `<command> <release> … --namespace <ns>` (the engine's command line).
func releaseKey(argv []string) string {
	if len(argv) < 2 || !actions[argv[0]] || strings.HasPrefix(argv[1], "-") {
		return ""
	}
	namespace := "default"
	for i, arg := range argv[2:] {
		switch {
		case (arg == "--namespace" || arg == "-n") && i+3 < len(argv):
			namespace = argv[i+3]
		case strings.HasPrefix(arg, "--namespace="):
			namespace = strings.TrimPrefix(arg, "--namespace=")
		}
	}
	return namespace + "/" + argv[1]
}

// actions are the commands act serves, each on one release.
var actions = map[string]bool{"install": true, "upgrade": true, "rollback": true, "uninstall": true, "test": true}

// truncate keeps the first `limit` bytes of `text` (whole UTF-8 characters), marked.
func truncate(text string, limit int) string {
	if len(text) <= limit {
		return text
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "… (truncated)"
}
