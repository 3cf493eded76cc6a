// Command kidp-helm-server runs Helm actions for the kidp-gitops engine without a helm
// process per action: it is started once by the engine (src/kidp_gitops/helm/runner.py)
// and serves requests over its standard input and output, one JSON document a line.
//
//	request   {"id": 7, "argv": ["upgrade", "web", "/charts/web", "--values", …],
//	           "kubeconfig": {…}, "chartDigest": "sha256:…"}
//	cancel    {"cancel": 7}
//	response  {"id": 7, "output": "…"}  or  {"id": 7, "error": "UPGRADE FAILED: …"}
//
// `argv` is the helm command line the engine would have run (the same commands and
// flags, see actions.go): the flags are parsed into Helm's own pkg/action types, so the
// release logic, storage (Secrets), hooks, kstatus waits, tests and rollbacks are
// Helm's. Requests run concurrently; a cancel cancels the request's context. The
// Kubernetes clients are kept per kubeconfig and identity (clients.go), loaded charts
// per digest (charts.go), both bounded.
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
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/kube"
)

// maxLine bounds one request: the values travel in a file, the kubeconfig inline.
const maxLine = 16 << 20

// drain is how long in-flight requests get to end after standard input closes.
const drain = 5 * time.Second

type request struct {
	ID          int64           `json:"id"`
	Cancel      *int64          `json:"cancel,omitempty"`
	Argv        []string        `json:"argv"`
	Kubeconfig  json.RawMessage `json:"kubeconfig"`
	ChartDigest string          `json:"chartDigest"`
}

type response struct {
	ID     int64  `json:"id"`
	Output string `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
}

type server struct {
	clusters *clusters
	charts   *chartCache

	mu      sync.Mutex
	running map[int64]context.CancelFunc
	out     *json.Encoder
	outMu   sync.Mutex
	wg      sync.WaitGroup
}

func main() {
	// Helm logs through slog; what it says about a release (resource names, waits)
	// is not the engine's to keep, and nothing of it may carry a credential.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	// Helm names its field manager after the program; the releases are the helm CLI's
	// ("helm" owns their fields), and the engine's drift correction applies as "helm".
	kube.ManagedFieldsManager = "helm"
	s := &server{
		clusters: newClusters(),
		charts:   newChartCache(chartCacheSize),
		running:  map[int64]context.CancelFunc{},
		out:      json.NewEncoder(os.Stdout),
	}
	go s.clusters.closeIdle()
	// For a benchmark's profile (bench/RESULTS.md): a CPU profile of the whole life.
	if path := os.Getenv("KIDP_HELM_SERVER_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if err := s.serve(os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "kidp-helm-server: %v\n", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
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
		s.mu.Lock()
		s.running[req.ID] = cancel
		s.mu.Unlock()
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
	if err != nil {
		resp.Error = err.Error()
	} else {
		resp.Output = output
	}
	s.mu.Lock()
	if cancel, ok := s.running[req.ID]; ok {
		cancel()
		delete(s.running, req.ID)
	}
	s.mu.Unlock()
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
