package main

// A `postrenderer/v1` plugin run as Helm runs it (the engine installs one, `--post-
// renderer <name> --post-renderer-args <file>`): its command from plugin.yaml in the
// plugins directory, the manifests on standard input, the result on standard output.
// Unlike Helm's own runner, which starts it with a context that is never cancelled,
// the plugin runs in a process group of its own that is killed when the request is
// cancelled, when the plugin is done, when its own deadline (the action's --timeout)
// passes, or when the helper ends (killPlugins, guard.go), as the whole helm process
// group was; its output is bounded. It is a process that can be killed, so its time
// does not count against the render's bound (which ends the whole shared helper): the
// render's watch is paused while it runs.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/postrenderer"
)

// maxRendered bounds what a post-renderer may print: far above any release (Helm
// stores a release in one Secret, 1 MiB compressed).
const maxRendered = 256 << 20

type pluginManifest struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Runtime       string `json:"runtime"`
	RuntimeConfig struct {
		PlatformCommand []struct {
			OS      string   `json:"os"`
			Arch    string   `json:"arch"`
			Command string   `json:"command"`
			Args    []string `json:"args"`
		} `json:"platformCommand"`
	} `json:"runtimeConfig"`
}

type pluginRenderer struct {
	ctx      context.Context
	name     string
	dir      string
	argv     []string
	deadline time.Duration
	// pause pauses the render's watch and returns what resumes it.
	pause func() func()
}

// running holds the process groups of the post-renderers running now, killed when the
// helper ends (their groups are their own, out of reach of the engine's kill).
var running = struct {
	sync.Mutex
	groups map[int]bool
}{groups: map[int]bool{}}

// killPlugins kills every post-renderer's process group still running.
func killPlugins() {
	running.Lock()
	defer running.Unlock()
	for pgid := range running.groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// newPostRenderer finds the post-renderer plugin `name` (nil without one).
func newPostRenderer(ctx context.Context, name string, args []string, deadline time.Duration, pause func() func()) (postrenderer.PostRenderer, error) {
	if name == "" {
		return nil, nil
	}
	for _, plugins := range filepath.SplitList(cli.New().PluginsDirectory) {
		dir := filepath.Join(plugins, name)
		data, err := os.ReadFile(filepath.Join(dir, "plugin.yaml"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		var m pluginManifest
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("plugin %q: %w", name, err)
		}
		if m.Name != name || m.Type != "postrenderer/v1" || m.Runtime != "subprocess" {
			return nil, fmt.Errorf("plugin %q is not a subprocess postrenderer/v1 plugin", name)
		}
		expand := func(key string) string {
			if key == "HELM_PLUGIN_DIR" {
				return dir
			}
			if key == "HELM_PLUGIN_NAME" {
				return name
			}
			return os.Getenv(key)
		}
		for _, c := range m.RuntimeConfig.PlatformCommand {
			if (c.OS != "" && !strings.EqualFold(c.OS, runtime.GOOS)) ||
				(c.Arch != "" && !strings.EqualFold(c.Arch, runtime.GOARCH)) {
				continue
			}
			var argv []string
			for _, part := range append(strings.Split(c.Command, " "), c.Args...) {
				argv = append(argv, os.Expand(part, expand))
			}
			if len(argv) == 0 || argv[0] == "" {
				break
			}
			return &pluginRenderer{ctx: ctx, name: name, dir: dir, argv: append(argv, args...), deadline: deadline, pause: pause}, nil
		}
		return nil, fmt.Errorf("plugin %q: no plugin command is applicable", name)
	}
	return nil, fmt.Errorf("plugin: %s not found", name)
}

func (p *pluginRenderer) Run(manifests *bytes.Buffer) (*bytes.Buffer, error) {
	if p.pause != nil {
		defer p.pause()()
	}
	ctx, cancel := p.ctx, context.CancelFunc(func() {})
	if p.deadline > 0 {
		ctx, cancel = context.WithTimeout(p.ctx, p.deadline)
	}
	defer cancel()
	cmd := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	cmd.Env = append(os.Environ(), "HELM_PLUGIN_NAME="+p.name, "HELM_PLUGIN_DIR="+p.dir)
	cmd.Stdin = manifests
	out := &boundedBuffer{limit: maxRendered}
	cmd.Stdout = out
	// Pdeathsig: the plugin itself dies with the helper even on a SIGKILL of the helper.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	running.Lock()
	err := cmd.Start()
	if err == nil {
		running.groups[cmd.Process.Pid] = true
	}
	running.Unlock()
	if err == nil {
		err = cmd.Wait()
		running.Lock()
		delete(running.groups, cmd.Process.Pid)
		running.Unlock()
		// What the plugin left running in its group (kustomize's children, a shell's
		// background jobs) ends with the request's use of it, as with a helm process.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		if out.exceeded {
			return nil, fmt.Errorf("post-renderer %q printed more than %d bytes", p.name, maxRendered)
		}
		if p.ctx.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("post-renderer %q did not finish within %s", p.name, p.deadline)
		}
		if _, ok := errors.AsType[*exec.ExitError](err); ok && p.ctx.Err() == nil {
			err = fmt.Errorf("plugin %q exited with error", p.name)
		}
		return nil, fmt.Errorf("failed to invoke post-renderer plugin %q: %w", p.name, err)
	}
	if len(bytes.TrimSpace(out.Bytes())) == 0 {
		return nil, fmt.Errorf("post-renderer %q produced empty output", p.name)
	}
	return &out.Buffer, nil
}

type boundedBuffer struct {
	bytes.Buffer
	limit    int
	exceeded bool
}

func (b *boundedBuffer) Write(data []byte) (int, error) {
	if b.Len()+len(data) > b.limit {
		b.exceeded = true
		return 0, errors.New("output too large")
	}
	return b.Buffer.Write(data)
}
