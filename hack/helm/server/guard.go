package main

// The bounds that keep one hostile chart from taking the whole helper with it. A chart's
// templates run in this process (Go's text/template, Sprig, Helm's tpl/include) and Go
// cannot stop one goroutine from outside: a template that allocates without end, or
// loops without end, can only be stopped by ending the process. So the helper ends
// itself, with an exit code that says why, before the kernel or the engine's deadline
// does it less clearly:
//
//	exitMemory (3)  the process's memory passed its bound (KIDP_HELM_SERVER_MEMORY_LIMIT)
//	exitRender (4)  a chart's templates rendered for longer than their request allowed
//	                (the request's renderTimeout, shorter than the action's wait); it
//	                names the request ("request N rendered …")
//	exitCPU (5)     its CPU time passed KIDP_HELM_SERVER_CPU_SECONDS (RLIMIT_CPU), set
//	                for the helpers the engine starts for one release alone
//
// Any other end (a signal from outside, the OOM killer) is no request's doing. The engine then
// tells the release that did it from the others (src/kidp_gitops/helm/runner.py: the
// releases in flight are run again each in a helper of its own, where only the guilty
// one ends the same way).

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	exitMemory = 3
	exitRender = 4
	exitCPU    = 5
	// How often the bounds are looked at: a template doubling a string reaches the
	// next power of two in about this time, so the bound is passed by one step at most.
	guardPoll = 50 * time.Millisecond
	// Go's own collector aims below the bound (its soft limit), so garbage alone does
	// not end the process; only memory the templates still hold does.
	softShare = 0.75
)

// memoryInUse is what the process holds of the memory the Go runtime mapped: heap,
// stacks and runtime metadata, without what it gave back to the kernel.
func memoryInUse(samples []metrics.Sample) uint64 {
	metrics.Read(samples)
	total, released := samples[0].Value.Uint64(), samples[1].Value.Uint64()
	if released > total {
		return 0
	}
	return total - released
}

// guardMemory ends the process when it holds more than `limit` bytes.
func guardMemory(limit uint64) {
	debug.SetMemoryLimit(int64(float64(limit) * softShare))
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	for range time.Tick(guardPoll) {
		if used := memoryInUse(samples); used > limit {
			fmt.Fprintf(os.Stderr, "kidp-helm-server: memory bound exceeded: %d MiB held, bound %d MiB\n",
				used>>20, limit>>20)
			killPlugins()
			os.Exit(exitMemory)
		}
	}
}

// limitCPU sets RLIMIT_CPU: past `seconds` of CPU time the kernel sends SIGXCPU, and
// the process ends with exitCPU (the engine sets it for a helper serving one release
// alone). Go's runtime ignores SIGXCPU unless asked for it, so without the handler the
// kernel's SIGKILL at the hard limit would end it, which says nothing of why.
func limitCPU(seconds uint64) error {
	xcpu := make(chan os.Signal, 1)
	signal.Notify(xcpu, syscall.SIGXCPU)
	go func() {
		<-xcpu
		fmt.Fprintf(os.Stderr, "kidp-helm-server: CPU time bound exceeded: %d s\n", seconds)
		killPlugins()
		os.Exit(exitCPU)
	}()
	return syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: seconds, Max: seconds + 5})
}

// envUint reads a positive integer from the environment (0 when unset or invalid).
func envUint(name string) uint64 {
	n, err := strconv.ParseUint(os.Getenv(name), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// renders watches the requests whose chart's templates are being rendered: from the
// moment Helm asks for the REST configuration to render with (action.renderResources)
// until it builds the rendered objects (kube.Client.Build), or the request ends.
type renders struct {
	mu      sync.Mutex
	started map[int64]rendering
}

type rendering struct {
	at    time.Time
	bound time.Duration
}

func newRenders() *renders { return &renders{started: map[int64]rendering{}} }

func (r *renders) begin(id int64, bound time.Duration) {
	if bound <= 0 {
		return
	}
	r.mu.Lock()
	r.started[id] = rendering{at: time.Now(), bound: bound}
	r.mu.Unlock()
}

func (r *renders) end(id int64) {
	r.mu.Lock()
	delete(r.started, id)
	r.mu.Unlock()
}

// pauser returns what pauses request `id`'s render watch (for a post-renderer, a process
// that can be killed on its own) and returns what resumes it, the time already rendered
// kept.
func (r *renders) pauser(id int64) func() func() {
	return func() func() {
		r.mu.Lock()
		paused, ok := r.started[id]
		delete(r.started, id)
		at := time.Now()
		r.mu.Unlock()
		return func() {
			if !ok {
				return
			}
			r.mu.Lock()
			paused.at = paused.at.Add(time.Since(at))
			r.started[id] = paused
			r.mu.Unlock()
		}
	}
}

// overrun returns a request rendering for longer than its bound, if any.
func (r *renders) overrun(now time.Time) (int64, time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, s := range r.started {
		if now.Sub(s.at) > s.bound {
			return id, s.bound, true
		}
	}
	return 0, 0, false
}

// guard ends the process once a render overruns its bound: the goroutine running the
// templates cannot be stopped otherwise, and would spin on beside every other request.
func (r *renders) guard() {
	for now := range time.Tick(guardPoll * 4) {
		if id, bound, ok := r.overrun(now); ok {
			fmt.Fprintf(os.Stderr, "kidp-helm-server: request %d rendered its chart's templates for longer than %s\n",
				id, bound)
			killPlugins()
			os.Exit(exitRender)
		}
	}
}
