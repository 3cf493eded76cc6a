package main

// The bounds that keep one hostile chart from taking the whole helper with it. A chart's
// templates run in this process (Go's text/template, Sprig, Helm's tpl/include) and Go
// cannot stop one goroutine from outside: a template that allocates without end, or
// loops without end, can only be stopped by ending the process. So the helper ends
// itself, with an exit code that says why, before the kernel or the engine's deadline
// does it less clearly:
//
//	exitMemory (3)  the process's memory passed its bound (KIDP_HELM_SERVER_MEMORY_LIMIT)
//	                and stayed past it once its caches were dropped and collected
//	exitRender (4)  a chart's templates rendered for longer than their request allowed
//	                (the request's renderTimeout, shorter than the action's wait); it
//	                names the request ("request N rendered …"). The shared helper counts
//	                the clock (it serves many requests; an overrun there only sends the
//	                releases in flight to be run alone), a helper serving one release
//	                alone counts the process's CPU time
//	                (KIDP_HELM_SERVER_RENDER_CLOCK=cpu): that end convicts the release,
//	                and a loaded machine must not convict an innocent chart
//	exitCPU (5)     its CPU time passed KIDP_HELM_SERVER_CPU_SECONDS (RLIMIT_CPU), set
//	                for the helpers the engine starts for one release alone
//
// Behind the memory bound, the kernel's: the address space the process may map is
// capped at addressCap of the bound (RLIMIT_AS), since a template that allocates fast
// outruns the guard's look (a string doubled forty times reached 24 GiB against a 64 MiB
// bound in a test, while the guard's collection ran), and one allocation of a template
// (Sprig's `repeat`) may ask for terabytes at once. Past the cap an allocation fails and
// Go ends the process: exit 2, "fatal error: out of memory", which the engine counts as
// the memory bound's end. (RLIMIT_DATA does not hold Go: the kernel lets a mapping
// replace the runtime's reserved, inaccessible address space without counting it.)
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
	// How often the bounds are looked at. A template doubling a string may pass the
	// memory bound by several steps before the guard's look ends (it collects first):
	// `limitAddressSpace` caps what it can reach.
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

// guardMemory ends the process when it holds more than `limit` bytes after `drop` let
// go of what the helper keeps for later (its charts and clients) and the collector gave
// back what is free: only memory the requests in flight still hold ends it, not what
// the process merely kept or had not returned yet.
func guardMemory(limit uint64, drop func()) {
	debug.SetMemoryLimit(int64(float64(limit) * softShare))
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	for range time.Tick(guardPoll) {
		if memoryInUse(samples) <= limit {
			continue
		}
		drop()
		debug.FreeOSMemory()
		if used := memoryInUse(samples); used > limit {
			fmt.Fprintf(os.Stderr, "kidp-helm-server: memory bound exceeded: %d MiB held, bound %d MiB\n",
				used>>20, limit>>20)
			killPlugins()
			os.Exit(exitMemory)
		}
	}
}

// addressHeadroom: what the address-space cap leaves above twice the memory bound. The
// Go runtime reserves ~1.3 GiB of address space it never fills (the helper idle: 1.35
// GiB mapped, 38 MiB resident), and the heap's free spans wait for a collection.
const addressHeadroom = 2 << 30

// addressCap is the most address space the process may map with a memory bound of
// `limit`: twice the bound, and the headroom. An innocent process never comes near it
// (the guard ends one that holds more than `limit`); a hostile template is stopped there
// however fast it allocates.
func addressCap(limit uint64) uint64 {
	return 2*limit + addressHeadroom
}

// limitAddressSpace sets RLIMIT_AS to addressCap(limit), soft and hard alike, so that
// no request and no plugin the process starts (they inherit it) can raise it.
func limitAddressSpace(limit uint64) error {
	bytes := addressCap(limit)
	return syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: bytes, Max: bytes})
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

// A clock a render's time is read on: time since some fixed start.
type clock func() time.Duration

// wallClock is the time since the helper started.
func wallClock() clock {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}

// cpuClock is the CPU time the process used (user and system, every thread): in a
// helper serving one request, that request's (and the collector's work for it). Time
// spent waiting (on the API server, for a core on a loaded machine) does not count.
func cpuClock() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// renders watches the requests whose chart's templates are being rendered: from the
// moment Helm asks for the REST configuration to render with (action.renderResources)
// until it builds the rendered objects (kube.Client.Build), or the request ends.
type renders struct {
	mu      sync.Mutex
	clock   clock
	cpu     bool // the clock is the process's CPU time (for the words of an overrun)
	started map[int64]rendering
}

type rendering struct {
	at    time.Duration // on the clock
	bound time.Duration
}

func newRenders(c clock, cpu bool) *renders {
	return &renders{clock: c, cpu: cpu, started: map[int64]rendering{}}
}

func (r *renders) begin(id int64, bound time.Duration) {
	if bound <= 0 {
		return
	}
	now := r.clock()
	r.mu.Lock()
	r.started[id] = rendering{at: now, bound: bound}
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
		at := r.clock()
		r.mu.Lock()
		paused, ok := r.started[id]
		delete(r.started, id)
		r.mu.Unlock()
		return func() {
			if !ok {
				return
			}
			now := r.clock()
			r.mu.Lock()
			paused.at += now - at
			r.started[id] = paused
			r.mu.Unlock()
		}
	}
}

// overrun returns a request rendering for longer than its bound at `now` (on the
// clock), if any.
func (r *renders) overrun(now time.Duration) (int64, time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, s := range r.started {
		if now-s.at > s.bound {
			return id, s.bound, true
		}
	}
	return 0, 0, false
}

// guard ends the process once a render overruns its bound: the goroutine running the
// templates cannot be stopped otherwise, and would spin on beside every other request.
func (r *renders) guard() {
	for range time.Tick(guardPoll * 4) {
		if id, bound, ok := r.overrun(r.clock()); ok {
			of := ""
			if r.cpu {
				of = " of CPU time"
			}
			fmt.Fprintf(os.Stderr, "kidp-helm-server: request %d rendered its chart's templates for longer than %s%s\n",
				id, bound, of)
			killPlugins()
			os.Exit(exitRender)
		}
	}
}
