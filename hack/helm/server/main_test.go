package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestReleaseKey(t *testing.T) {
	cases := map[string][]string{
		"team-a/web": {"upgrade", "web", "/charts/web", "--namespace", "team-a", "--timeout", "5m0s"},
		"default/db": {"rollback", "db", "3"},
		"b/x":        {"uninstall", "x", "--namespace=b"},
		"":           {"install"},
		" ":          {"frob", "web"},
	}
	for want, argv := range cases {
		if got := releaseKey(argv); got != strings.TrimSpace(want) {
			t.Errorf("releaseKey(%q) = %q, want %q", argv, got, want)
		}
	}
}

func TestBusyIsByOwnerNotByTheReleaseNamed(t *testing.T) {
	argv := []string{"upgrade", "web", "c", "--namespace", "team-b"}
	a := busyKey(request{Argv: argv, Owner: "evil/a@1"})
	b := busyKey(request{Argv: argv, Owner: "team-b/web@2"})
	if a == b || a != "evil/a@1" {
		t.Fatalf("two owners naming release team-b/web share a busy key: %q, %q", a, b)
	}
	if got := busyKey(request{Argv: []string{"frob"}, Owner: "x/y@1"}); got != "" {
		t.Fatalf("what is no action is never busy: %q", got)
	}
}

func TestTruncateKeepsTheStartAndBoundsTheRest(t *testing.T) {
	text := "execution error at (c/templates/x.yaml:1:3): " + strings.Repeat("é", 1<<20)
	got := truncate(text, maxError)
	if len(got) > maxError+len("… (truncated)") || !strings.HasPrefix(got, "execution error at") {
		t.Fatalf("truncate kept %d bytes: %.60q", len(got), got)
	}
	if !strings.HasSuffix(got, "… (truncated)") || !utf8.ValidString(got) {
		t.Fatalf("truncate cut a character or did not say so: %q", got[len(got)-20:])
	}
	if truncate("short", maxError) != "short" {
		t.Fatal("a short error is kept whole")
	}
}
