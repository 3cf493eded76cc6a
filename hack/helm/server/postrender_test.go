package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A paused render is not watched; resumed, it keeps the time it had already rendered.
func TestAPostRendererPausesTheRenderWatch(t *testing.T) {
	var now time.Duration
	r := newRenders(func() time.Duration { return now }, false)
	r.begin(1, time.Second)
	resume := r.pauser(1)()
	if _, _, ok := r.overrun(now + time.Hour); ok {
		t.Fatal("a paused render was watched")
	}
	now += time.Hour
	resume()
	if _, _, ok := r.overrun(now + 900*time.Millisecond); ok {
		t.Fatal("the pause counted as rendering")
	}
	if id, _, ok := r.overrun(now + 1100*time.Millisecond); !ok || id != 1 {
		t.Fatal("the time rendered before the pause was forgotten")
	}
	r.pauser(2)()() // a request not rendering stays unwatched
	r.end(1)
	if _, _, ok := r.overrun(now + time.Hour); ok {
		t.Fatal("resuming an unwatched request watched it")
	}
}

// A post-renderer past its own deadline fails its request (not the helper), and what it
// started in its process group is killed.
func TestAPostRendererPastItsDeadlineIsKilledWithItsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	script := filepath.Join(dir, "hang.sh")
	body := "#!/bin/sh\nsleep 300 &\necho $! > " + pidFile + "\nwait\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	paused := false
	p := &pluginRenderer{
		ctx: context.Background(), name: "hang", dir: dir, argv: []string{script},
		deadline: 300 * time.Millisecond,
		pause:    func() func() { paused = true; return func() {} },
	}
	_, err := p.Run(bytes.NewBufferString("kind: ConfigMap\n"))
	if err == nil || !strings.Contains(err.Error(), `post-renderer "hang" did not finish within 300ms`) {
		t.Fatalf("error %v", err)
	}
	if !paused {
		t.Fatal("the render's watch ran on during the post-renderer")
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the post-renderer's child %d outlived it", pid)
}
