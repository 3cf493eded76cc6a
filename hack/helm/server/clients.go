package main

// One Kubernetes client set-up per kubeconfig and impersonated identity, shared by the
// requests that act as that identity in that cluster: the REST configuration, a
// discovery cache and a REST mapper over it, and kubectl's factory with the validator
// Helm asks for on every install and upgrade (what a helm process rebuilt on every
// action; building that validator alone, which parses the API server's OpenAPI document
// of each group to learn that it validates fields, was half of the helper's CPU).
// Entries unused for idleAfter are dropped, and at most maxClusters kept. Identities stay
// apart: the key is the kubeconfig (its credentials) and the impersonated user, so what
// one identity's discovery, mapper or validator learned never answers for another.
// A remote cluster is a tenant's word: what its API server sends is bounded in size, as
// the engine bounds it (runtime/remote.py MAX_RESPONSE), when the request says so.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/validation"

	"helm.sh/helm/v4/pkg/kube"
)

const (
	// A set-up unused this long is dropped: a helm action comes with a change (an
	// install, an upgrade, a test), and a wave of them reuses its set-ups within it.
	idleAfter = 5 * time.Minute
	idleCheck = 30 * time.Second
	// At most this many set-ups are kept, the least recently used dropped first. One
	// costs 2.7 MiB of live heap and 5.2 MiB of the process's memory (garbage the
	// collector has not taken yet included; bench/helm_clients.py, the local control
	// plane: a discovery cache, a mapper and the validator of five API groups), so the
	// cache holds about 340 MiB of the helper's 2 GiB bound at most, whatever a tenant
	// varies (its service accounts, its remote kubeconfigs); 256 was 1.3 GiB. A cluster
	// with many more API groups costs more a set-up, and the memory bound drops the
	// whole cache before it ends the helper.
	maxClusters = 64
	// A kind the mapper does not know is looked up again in discovery, at most once
	// in this interval (a helm process read discovery afresh on every action; a CRD
	// installed meanwhile must be found).
	discoveryFresh = 10 * time.Second
	// helm-controller's client defaults: the engine's many releases share a client.
	clientQPS   = 50
	clientBurst = 300
)

type clusters struct {
	mu      sync.Mutex
	entries map[string]*cluster
	max     int
}

type cluster struct {
	getter   *restGetter
	lastUsed time.Time
}

func newClusters() *clusters {
	// client-go prints the API server's warnings (deprecated APIs) to standard error.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	return &clusters{entries: map[string]*cluster{}, max: maxClusters}
}

// get returns the client set-up for a kubeconfig (as the engine sends it: a JSON
// document) and the identity to impersonate ("" for none).
func (c *clusters) get(kubeconfig []byte, asUser string, maxResponse int64) (*restGetter, error) {
	if len(kubeconfig) == 0 {
		return nil, errors.New("no kubeconfig in the request")
	}
	sum := sha256.Sum256(kubeconfig)
	key := hex.EncodeToString(sum[:]) + "\x00" + asUser + "\x00" + strconv.FormatInt(maxResponse, 10)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if entry, ok := c.entries[key]; ok {
		entry.lastUsed = now
		return entry.getter, nil
	}
	g, err := newGetter(kubeconfig, asUser, maxResponse)
	if err != nil {
		return nil, err
	}
	if len(c.entries) >= c.max {
		c.evictOldest()
	}
	c.entries[key] = &cluster{getter: g, lastUsed: now}
	return g, nil
}

// clear drops every set-up (the memory bound, guard.go); requests holding one keep it
// until they are done.
func (c *clusters) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[string]*cluster{}
}

func (c *clusters) evictOldest() {
	var oldest string
	var at time.Time
	for key, entry := range c.entries {
		if oldest == "" || entry.lastUsed.Before(at) {
			oldest, at = key, entry.lastUsed
		}
	}
	delete(c.entries, oldest)
}

// closeIdle drops the set-ups nobody used for idleAfter, every idleCheck.
func (c *clusters) closeIdle() {
	for now := range time.Tick(idleCheck) {
		c.dropIdle(now)
	}
}

// dropIdle drops the set-ups nobody used for idleAfter at `now` (a rotated token makes
// a new kubeconfig, and the old entry goes idle; a tenant's many identities do not stay
// once unused); requests holding one keep it until done.
func (c *clusters) dropIdle(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, entry := range c.entries {
		if now.Sub(entry.lastUsed) > idleAfter {
			delete(c.entries, key)
		}
	}
}

// restGetter is Helm's RESTClientGetter over a kubeconfig held in memory: no file, and
// the discovery cache and mapper live as long as the entry.
type restGetter struct {
	raw       clientcmd.ClientConfig
	config    *rest.Config
	discovery *freshDiscovery
	mapper    meta.RESTMapper
	// factory is kubectl's, over this getter, for every request's kube.Client.
	factory kube.Factory
}

func newGetter(kubeconfig []byte, asUser string, maxResponse int64) (*restGetter, error) {
	raw, err := clientcmd.NewClientConfigFromBytes(kubeconfig)
	if err != nil {
		return nil, err
	}
	config, err := raw.ClientConfig()
	if err != nil {
		return nil, err
	}
	config.Impersonate.UserName = asUser
	config.QPS, config.Burst = clientQPS, clientBurst
	if maxResponse > 0 {
		config.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return &boundedResponses{next: rt, limit: maxResponse}
		})
	}
	dc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, err
	}
	cached := &freshDiscovery{CachedDiscoveryInterface: memory.NewMemCacheClient(dc)}
	mapper := restmapper.NewShortcutExpander(
		restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, func(string) {})
	g := &restGetter{raw: raw, config: config, discovery: cached, mapper: mapper}
	g.factory = &validators{Factory: cmdutil.NewFactory(g), made: map[string]validation.Schema{}}
	return g, nil
}

// validators keeps the validator of each validation directive: what it learns (whether
// the server validates fields of a kind) holds for the cluster, and it is safe for
// concurrent use (its verifier caches under a lock).
type validators struct {
	kube.Factory
	mu   sync.Mutex
	made map[string]validation.Schema
}

func (v *validators) Validator(directive string) (validation.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if schema, ok := v.made[directive]; ok {
		return schema, nil
	}
	schema, err := v.Factory.Validator(directive)
	if err == nil {
		v.made[directive] = schema
	}
	return schema, err
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.config), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.discovery, nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) { return g.mapper, nil }

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return g.raw }

// freshDiscovery is a memory cache of discovery that calls itself fresh only shortly
// after it was invalidated: the deferred mapper then looks a kind it does not know up
// again (once), as a new helm process would, instead of trusting an old cache forever.
type freshDiscovery struct {
	discovery.CachedDiscoveryInterface
	mu          sync.Mutex
	invalidated time.Time
}

func (d *freshDiscovery) Fresh() bool {
	d.mu.Lock()
	recent := time.Since(d.invalidated) < discoveryFresh
	d.mu.Unlock()
	return recent && d.CachedDiscoveryInterface.Fresh()
}

func (d *freshDiscovery) Invalidate() {
	d.mu.Lock()
	d.invalidated = time.Now()
	d.mu.Unlock()
	d.CachedDiscoveryInterface.Invalidate()
}

// watchShare: a watch's stream may carry this many times the bound over its life (a
// wait reads events for minutes); any other response, the bound.
const watchShare = 16

// boundedResponses fails the reading of a response body past its limit: a remote API
// server cannot make the helper read (and hold) more than that.
type boundedResponses struct {
	next  http.RoundTripper
	limit int64
}

func (b *boundedResponses) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	limit := b.limit
	if req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1" {
		limit *= watchShare
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: limit, limit: limit, host: req.URL.Host}
	return resp, nil
}

type boundedBody struct {
	io.ReadCloser
	left, limit int64
	host        string
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// At the bound: a body of exactly `limit` bytes ends here, a longer one fails.
		var one [1]byte
		if n, err := b.ReadCloser.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("the response of %s is larger than %d bytes", b.host, b.limit)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
