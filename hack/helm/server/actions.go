package main

// The helm commands the engine runs, with the flags it passes, parsed into Helm's
// pkg/action types as the helm CLI (pkg/cmd) sets them, and run with Helm's SDK. A
// flag the engine starts to pass that is not listed here fails the request (pflag:
// "unknown flag"), never silently ignored. Errors carry the CLI's prefixes
// ("INSTALLATION FAILED: ", "UPGRADE FAILED: "), as the engine reports helm's words.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"helm.sh/helm/v4/pkg/action"
	ci "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
)

// The helm CLI's wait options for every wait (pkg/cmd defaultCLIWaitOptions).
const statusComputeWorkers = 8

// common are the flags every command takes: which namespace, as whom, how long.
type common struct {
	namespace string
	asUser    string
	timeout   time.Duration
	wait      waitValue
}

func (c *common) bind(f *pflag.FlagSet, withWait bool) {
	f.StringVarP(&c.namespace, "namespace", "n", "default", "")
	f.StringVar(&c.asUser, "kube-as-user", "", "")
	f.DurationVar(&c.timeout, "timeout", 300*time.Second, "")
	if withWait {
		c.wait = waitValue(kube.HookOnlyStrategy)
		f.Var(&c.wait, "wait", "")
		f.Lookup("wait").NoOptDefVal = string(kube.StatusWatcherStrategy)
	}
}

type waitValue kube.WaitStrategy

func (w *waitValue) String() string { return string(*w) }
func (w *waitValue) Type() string   { return "WaitStrategy" }
func (w *waitValue) Set(s string) error {
	switch kube.WaitStrategy(s) {
	case kube.StatusWatcherStrategy, kube.HookOnlyStrategy, kube.LegacyStrategy:
		*w = waitValue(s)
		return nil
	}
	return fmt.Errorf("invalid wait input %q. Valid inputs are %s, %s, and %s", s,
		kube.StatusWatcherStrategy, kube.HookOnlyStrategy, kube.LegacyStrategy)
}

func waitOptions(ctx context.Context) []kube.WaitOption {
	return []kube.WaitOption{
		kube.WithWaitContext(ctx),
		kube.WithStatusComputeWorkers(statusComputeWorkers),
	}
}

func newFlags(command string) *pflag.FlagSet {
	f := pflag.NewFlagSet(command, pflag.ContinueOnError)
	f.SetOutput(io.Discard)
	return f
}

func (s *server) act(ctx context.Context, req request) (string, error) {
	if len(req.Argv) < 2 {
		return "", errors.New("a request names a command and a release")
	}
	command, args := req.Argv[0], req.Argv[1:]
	switch command {
	case "install":
		return "", s.install(ctx, req, args)
	case "upgrade":
		return "", s.upgrade(ctx, req, args)
	case "rollback":
		return "", s.rollback(ctx, req, args)
	case "uninstall":
		return "", s.uninstall(ctx, req, args)
	case "test":
		return "", s.test(ctx, req, args)
	}
	return "", fmt.Errorf("unknown command %q", command)
}

// configuration is Helm's action configuration for one request: the shared client
// set-up of its kubeconfig and identity, and Helm's storage (Secrets) in `namespace`.
func (s *server) configuration(req request, c *common) (*action.Configuration, error) {
	g, err := s.clusters.get(req.Kubeconfig, c.asUser, req.MaxResponse)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	cfg := action.NewConfiguration()
	if err := cfg.Init(g, c.namespace, "secret"); err != nil {
		return nil, err
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Factory = g.factory
		// Objects without a namespace go to the release's, as the CLI's --namespace does.
		kc.Namespace = c.namespace
		if bound := time.Duration(req.RenderTimeout * float64(time.Second)); bound > 0 {
			// The render's watch (guard.go): Helm asks this request's getter for the
			// REST configuration just before it renders the templates, and builds the
			// objects just after.
			id := req.ID
			cfg.RESTClientGetter = &renderingGetter{
				RESTClientGetter: g, begin: func() { s.renders.begin(id, bound) }, timeout: lookupTimeout(bound)}
			cfg.KubeClient = &renderedClient{Client: kc, end: func() { s.renders.end(id) }}
		}
	}
	return cfg, nil
}

// renderingGetter marks the start of a render: action.renderResources is the one
// caller of the action configuration's ToRESTConfig in the actions served here (the
// Go test TestARenderIsWatched holds Helm to it).
type renderingGetter struct {
	action.RESTClientGetter
	begin func()
	// timeout bounds each API request of the render (a template's `lookup`): one stalled
	// by a slow API server (a tenant's own, through spec.kubeConfig) fails its own
	// request with a template error, not the render's bound, which ends the process.
	timeout time.Duration
}

// A render's API request may take lookupShare of the render's bound, never less than
// lookupFloor. A `lookup` that times out fails its release (a template error), where a
// render past its bound in the shared helper only sends its release to run alone: an
// operator's render limit under 10 s must not shorten the lookups of an innocent chart
// on a loaded machine or against a slow remote cluster (10 s gave a quarter, 2.5 s).
const (
	lookupShare = 4
	lookupFloor = 2500 * time.Millisecond
)

func lookupTimeout(bound time.Duration) time.Duration {
	return max(bound/lookupShare, lookupFloor)
}

func (g *renderingGetter) ToRESTConfig() (*rest.Config, error) {
	g.begin()
	config, err := g.RESTClientGetter.ToRESTConfig()
	if err == nil && g.timeout > 0 {
		config = rest.CopyConfig(config)
		config.Timeout = g.timeout
	}
	return config, err
}

// renderedClient marks the end of a render: Helm builds the rendered manifest into
// objects next. (Every other method is kube.Client's own, its optional interfaces too.)
type renderedClient struct {
	*kube.Client
	end func()
}

func (c *renderedClient) Build(reader io.Reader, validate bool) (kube.ResourceList, error) {
	c.end()
	return c.Client.Build(reader, validate)
}

// positional parses `args` and returns the positional arguments, exactly `n` of them.
func positional(f *pflag.FlagSet, args []string, n int) ([]string, error) {
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	if f.NArg() != n {
		return nil, fmt.Errorf("%s: expected %d arguments, got %d", f.Name(), n, f.NArg())
	}
	return f.Args(), nil
}

type chartFlags struct {
	values       []string
	postRenderer string
	postArgs     []string
}

func (c *chartFlags) bind(f *pflag.FlagSet) {
	f.StringArrayVarP(&c.values, "values", "f", nil, "")
	f.StringVar(&c.postRenderer, "post-renderer", "", "")
	f.StringArrayVar(&c.postArgs, "post-renderer-args", nil, "")
}

// inputs loads the chart (cached by the artifact's digest) and merges the values files.
func (s *server) inputs(req request, path string, c *chartFlags) (ci.Charter, map[string]any, error) {
	vals, err := (&values.Options{ValueFiles: c.values}).MergeValues(getter.Providers{})
	if err != nil {
		return nil, nil, err
	}
	chrt, err := s.charts.load(path, req.ChartDigest)
	if err != nil {
		return nil, nil, err
	}
	ac, err := ci.NewAccessor(chrt)
	if err != nil {
		return nil, nil, err
	}
	if req := ac.MetaDependencies(); len(req) > 0 {
		if err := action.CheckDependencies(chrt, req); err != nil {
			return nil, nil, fmt.Errorf("an error occurred while checking for chart dependencies. You may need to run 'helm dependency build' to fetch missing dependencies: %w", err)
		}
	}
	return chrt, vals, nil
}

// checkSchema checks the request's values against its chart's schemas (schema.go) on a
// copy of the chart and values of its own, under the render's watch (guard.go): what a
// schema costs counts as rendering. `reuse`: the release whose values an upgrade with
// --reuse-values merges under the new ones, as Helm's Upgrade.reuseValues does.
func (s *server) checkSchema(req request, path string, c *chartFlags, reuse *rspb.Release) error {
	if bound := time.Duration(req.RenderTimeout * float64(time.Second)); bound > 0 {
		s.renders.begin(req.ID, bound)
		defer s.renders.end(req.ID)
	}
	chrt, vals, err := s.inputs(req, path, c)
	if err != nil {
		return err
	}
	if reuse != nil {
		old, err := util.CoalesceValues(reuse.Chart, reuse.Config)
		if err != nil {
			return fmt.Errorf("failed to rebuild old values: %w", err)
		}
		vals = util.CoalesceTables(vals, reuse.Config)
		if v2, ok := chrt.(*chartv2.Chart); ok {
			v2.Values = old
		}
	}
	return checkValues(chrt, vals)
}

// deployed is the release an upgrade starts from (Helm's prepareUpgrade): the last one
// when deployed, else the last deployed one, else the last; nil when there is none
// (Helm's upgrade then fails with its own words).
func deployed(cfg *action.Configuration, name string) *rspb.Release {
	last, err := cfg.Releases.Last(name)
	if err != nil {
		return nil
	}
	if r, ok := last.(*rspb.Release); ok && r.Info != nil && r.Info.Status == rcommon.StatusDeployed {
		return r
	}
	if current, err := cfg.Releases.Deployed(name); err == nil {
		if r, ok := current.(*rspb.Release); ok {
			return r
		}
	}
	r, _ := last.(*rspb.Release)
	return r
}

func (s *server) install(ctx context.Context, req request, args []string) error {
	f := newFlags("install")
	var c common
	var in chartFlags
	var o action.Install
	c.bind(f, true)
	in.bind(f)
	f.BoolVar(&o.CreateNamespace, "create-namespace", false, "")
	f.BoolVar(&o.DisableHooks, "no-hooks", false, "")
	f.BoolVar(&o.Replace, "replace", false, "")
	f.BoolVar(&o.WaitForJobs, "wait-for-jobs", false, "")
	f.BoolVar(&o.DisableOpenAPIValidation, "disable-openapi-validation", false, "")
	crds, owner := crdFlags(f)
	f.BoolVar(&o.SkipSchemaValidation, "skip-schema-validation", false, "")
	f.BoolVar(&o.ServerSideApply, "server-side", true, "")
	pos, err := positional(f, args, 2)
	if err != nil {
		return err
	}
	cfg, err := s.configuration(req, &c)
	if err != nil {
		return err
	}
	client := action.NewInstall(cfg)
	client.CreateNamespace, client.DisableHooks, client.Replace = o.CreateNamespace, o.DisableHooks, o.Replace
	client.WaitForJobs, client.DisableOpenAPIValidation = o.WaitForJobs, o.DisableOpenAPIValidation
	client.SkipCRDs = true // applyCRDs, by the policy
	client.ServerSideApply = o.ServerSideApply
	client.ReleaseName, client.Namespace, client.Timeout = pos[0], c.namespace, c.timeout
	client.WaitStrategy = kube.WaitStrategy(c.wait)
	client.WaitOptions = waitOptions(ctx)
	client.DryRunStrategy = action.DryRunNone
	if client.PostRenderer, err = newPostRenderer(ctx, in.postRenderer, in.postArgs, c.timeout, s.renders.pauser(req.ID)); err != nil {
		return fmt.Errorf("INSTALLATION FAILED: %w", err)
	}
	// Helm's own schema check follows any reference (schema.go): the helper's instead.
	client.SkipSchemaValidation = true
	chrt, vals, err := s.inputs(req, pos[1], &in)
	if err == nil {
		err = installable(chrt)
	}
	if err == nil && !o.SkipSchemaValidation {
		err = s.checkSchema(req, pos[1], &in, nil)
	}
	if err == nil {
		err = applyCRDs(ctx, cfg, *crds, o.ServerSideApply, chrt, vals, *owner)
	}
	if err == nil {
		_, err = client.RunWithContext(ctx, chrt, vals)
	}
	if err != nil {
		return fmt.Errorf("INSTALLATION FAILED: %w", err)
	}
	return nil
}

// serverSide resolves an upgrade's --server-side as Helm's upgrade does: "auto" is
// server-side only when the release's last revision was applied so.
func serverSide(cfg *action.Configuration, name, setting string) bool {
	if setting != "auto" {
		return setting == "true"
	}
	last, err := cfg.Releases.Last(name)
	if err != nil {
		return false
	}
	r, ok := last.(*rspb.Release)
	return ok && r.ApplyMethod == string(rspb.ApplyMethodServerSideApply)
}

// crdFlags: the policy for the chart's crds/ directory (crds.go; Create when not
// given, as helm-controller does for install and upgrade alike), and the HelmRelease
// ("namespace/name") whose labels the CRDs get.
func crdFlags(f *pflag.FlagSet) (*string, *string) {
	return f.String("crds", crdsCreate, ""), f.String("crd-owner", "", "")
}

func installable(chrt ci.Charter) error {
	ac, err := ci.NewAccessor(chrt)
	if err != nil {
		return err
	}
	switch t := ac.MetadataAsMap()["Type"]; t {
	case nil, "", "application":
		return nil
	default:
		return fmt.Errorf("%s charts are not installable", t)
	}
}

func (s *server) upgrade(ctx context.Context, req request, args []string) error {
	f := newFlags("upgrade")
	var c common
	var in chartFlags
	var o action.Upgrade
	c.bind(f, true)
	in.bind(f)
	f.BoolVar(&o.ResetValues, "reset-values", false, "")
	f.BoolVar(&o.ReuseValues, "reuse-values", false, "")
	f.BoolVar(&o.WaitForJobs, "wait-for-jobs", false, "")
	f.IntVar(&o.MaxHistory, "history-max", cli.New().MaxHistory, "")
	f.BoolVar(&o.DisableHooks, "no-hooks", false, "")
	f.BoolVar(&o.DisableOpenAPIValidation, "disable-openapi-validation", false, "")
	f.BoolVar(&o.ForceReplace, "force-replace", false, "")
	f.BoolVar(&o.CleanupOnFail, "cleanup-on-fail", false, "")
	crds, owner := crdFlags(f)
	f.BoolVar(&o.SkipSchemaValidation, "skip-schema-validation", false, "")
	f.StringVar(&o.ServerSideApply, "server-side", "auto", "")
	pos, err := positional(f, args, 2)
	if err != nil {
		return err
	}
	cfg, err := s.configuration(req, &c)
	if err != nil {
		return err
	}
	client := action.NewUpgrade(cfg)
	client.ResetValues, client.ReuseValues = o.ResetValues, o.ReuseValues
	client.WaitForJobs, client.MaxHistory = o.WaitForJobs, o.MaxHistory
	client.DisableHooks, client.DisableOpenAPIValidation = o.DisableHooks, o.DisableOpenAPIValidation
	client.ForceReplace, client.CleanupOnFail = o.ForceReplace, o.CleanupOnFail
	client.SkipCRDs = true // applyCRDs, by the policy
	client.ServerSideApply = o.ServerSideApply
	client.Namespace, client.Timeout = c.namespace, c.timeout
	client.WaitStrategy = kube.WaitStrategy(c.wait)
	client.WaitOptions = waitOptions(ctx)
	client.DryRunStrategy = action.DryRunNone
	if client.PostRenderer, err = newPostRenderer(ctx, in.postRenderer, in.postArgs, c.timeout, s.renders.pauser(req.ID)); err != nil {
		return err
	}
	client.SkipSchemaValidation = true // the helper's check instead (schema.go)
	chrt, vals, err := s.inputs(req, pos[1], &in)
	if err != nil {
		return err
	}
	if !o.SkipSchemaValidation {
		var reuse *rspb.Release
		if o.ReuseValues && !o.ResetValues {
			reuse = deployed(cfg, pos[0])
		}
		if err := s.checkSchema(req, pos[1], &in, reuse); err != nil {
			return fmt.Errorf("UPGRADE FAILED: %w", err)
		}
	}
	if err := applyCRDs(ctx, cfg, *crds, serverSide(cfg, pos[0], o.ServerSideApply), chrt, vals, *owner); err != nil {
		return fmt.Errorf("UPGRADE FAILED: %w", err)
	}
	if _, err := client.RunWithContext(ctx, pos[0], chrt, vals); err != nil {
		return fmt.Errorf("UPGRADE FAILED: %w", err)
	}
	return nil
}

func (s *server) rollback(ctx context.Context, req request, args []string) error {
	f := newFlags("rollback")
	var c common
	var o action.Rollback
	c.bind(f, true)
	f.BoolVar(&o.WaitForJobs, "wait-for-jobs", false, "")
	f.IntVar(&o.MaxHistory, "history-max", cli.New().MaxHistory, "")
	f.BoolVar(&o.DisableHooks, "no-hooks", false, "")
	f.BoolVar(&o.ForceReplace, "force-replace", false, "")
	f.BoolVar(&o.CleanupOnFail, "cleanup-on-fail", false, "")
	f.StringVar(&o.ServerSideApply, "server-side", "auto", "")
	pos, err := positional(f, args, 2)
	if err != nil {
		return err
	}
	version, err := strconv.Atoi(pos[1])
	if err != nil {
		return fmt.Errorf("could not convert revision to a number: %w", err)
	}
	cfg, err := s.configuration(req, &c)
	if err != nil {
		return err
	}
	client := action.NewRollback(cfg)
	client.Version, client.Timeout = version, c.timeout
	client.WaitForJobs, client.MaxHistory = o.WaitForJobs, o.MaxHistory
	client.DisableHooks, client.ForceReplace = o.DisableHooks, o.ForceReplace
	client.CleanupOnFail, client.ServerSideApply = o.CleanupOnFail, o.ServerSideApply
	client.WaitStrategy = kube.WaitStrategy(c.wait)
	client.WaitOptions = waitOptions(ctx)
	client.DryRunStrategy = action.DryRunNone
	return client.Run(pos[0])
}

func (s *server) uninstall(ctx context.Context, req request, args []string) error {
	f := newFlags("uninstall")
	var c common
	var o action.Uninstall
	c.bind(f, true)
	f.BoolVar(&o.DisableHooks, "no-hooks", false, "")
	f.BoolVar(&o.IgnoreNotFound, "ignore-not-found", false, "")
	f.BoolVar(&o.KeepHistory, "keep-history", false, "")
	f.StringVar(&o.DeletionPropagation, "cascade", "background", "")
	pos, err := positional(f, args, 1)
	if err != nil {
		return err
	}
	switch o.DeletionPropagation {
	case "background", "foreground", "orphan":
	default:
		return fmt.Errorf("invalid cascade value (%s). Must be \"background\", \"foreground\", or \"orphan\"", o.DeletionPropagation)
	}
	cfg, err := s.configuration(req, &c)
	if err != nil {
		return err
	}
	client := action.NewUninstall(cfg)
	client.DisableHooks, client.IgnoreNotFound = o.DisableHooks, o.IgnoreNotFound
	client.KeepHistory, client.DeletionPropagation = o.KeepHistory, o.DeletionPropagation
	client.Timeout = c.timeout
	client.WaitStrategy = kube.WaitStrategy(c.wait)
	client.WaitOptions = waitOptions(ctx)
	_, err = client.Run(pos[0])
	return err
}

var notName = regexp.MustCompile(`^!\s?name=`)

func (s *server) test(ctx context.Context, req request, args []string) (err error) {
	f := newFlags("test")
	var c common
	var filters []string
	c.bind(f, false)
	f.StringSliceVar(&filters, "filter", nil, "")
	pos, err := positional(f, args, 1)
	if err != nil {
		return err
	}
	cfg, err := s.configuration(req, &c)
	if err != nil {
		return err
	}
	client := action.NewReleaseTesting(cfg)
	client.Namespace, client.Timeout = c.namespace, c.timeout
	client.WaitOptions = waitOptions(ctx)
	for _, filter := range filters {
		if after, ok := strings.CutPrefix(filter, "name="); ok {
			client.Filters[action.IncludeNameFilter] = append(client.Filters[action.IncludeNameFilter], after)
		} else if notName.MatchString(filter) {
			client.Filters[action.ExcludeNameFilter] = append(client.Filters[action.ExcludeNameFilter], notName.ReplaceAllLiteralString(filter, ""))
		}
	}
	_, shutdown, runErr := client.Run(pos[0])
	if shutdown != nil {
		if shutdownErr := shutdown(); shutdownErr != nil && runErr == nil {
			return shutdownErr
		}
	}
	return runErr
}
