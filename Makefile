# The two commands of README.md: `make up` and `make test`. Both start from nothing:
# system packages, the virtual environment in ./.venv, the control-plane binaries (cached
# under ~/.cache/kidp-gitops/controlplane/<versions>/ after the first build).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := git ca-certificates openssh-server openssh-client gnupg util-linux mount debian-archive-keyring

.PHONY: up down test test-helper test-unit test-integration setup system-packages venv controlplane helm helm-server registry flux s3 lint image wheel

up: setup
	$(VENV)/bin/kidp up

down:
	$(VENV)/bin/kidp down

# Lint, the helper's Go tests, the unit tests and the integration tests run side by side,
# each target's output printed whole when it ends: the integration tests mostly wait on
# the control plane, which the others would otherwise leave idle.
test: setup
	@$(MAKE) --no-print-directory -j4 -Otarget lint test-helper test-unit test-integration

# Python may keep its bytecode (this machine's environment sets PYTHONDONTWRITEBYTECODE=1):
# without it each of the run's ~40 Python processes — the pytest workers, every `kidp`
# and `kidp controller run` a test starts, the image's builder — compiled kidp's modules
# again, and each pytest worker rewrote the assertions of every test module it collected
# (collecting the unit tests took 5.7 CPU-s, 2.0 with the cache).
unexport PYTHONDONTWRITEBYTECODE

# The tests' scratch — pytest's tmp_path (each control plane's etcd data and logs, the git
# servers' repositories, the engines' data) and TMPDIR for the programs they start (git,
# helm, kustomize, sops) — in memory when /dev/shm has room: this machine's disk (ext4,
# mounted with discard) charged the kernel CPU for every small file created and removed.
# Per checkout (two trees may test at once), per tier; removed when the tier passes (it holds
# ~800 MB of memory after a run), and its parent once the other tier is gone too; kept when
# it fails, for its logs, until the next run.
SCRATCH_ROOM := 4294967296
TEST_SCRATCH := $(shell [ "$$(df --output=avail -B1 /dev/shm 2>/dev/null | tail -n1)" -ge $(SCRATCH_ROOM) ] 2>/dev/null && echo /dev/shm/kidp-gitops-tests-$$(printf %s "$(CURDIR)" | sha256sum | cut -c1-12))
in_scratch = $(if $(TEST_SCRATCH),rm -rf $(TEST_SCRATCH)/$(1)/tmp && mkdir -p $(TEST_SCRATCH)/$(1)/tmp && TMPDIR=$(TEST_SCRATCH)/$(1)/tmp)
basetemp = $(if $(TEST_SCRATCH),--basetemp=$(TEST_SCRATCH)/$(1)/pytest)
passed_drop = $(if $(TEST_SCRATCH),&& rm -rf $(TEST_SCRATCH)/$(1) && { rmdir $(TEST_SCRATCH) 2>/dev/null || true; })

# Two processes as well: the unit tests wait on subprocesses (git, ssh, kidp, sops) for
# about half their time. At a lower priority (nice 10): side by side with the integration
# tests, the critical path, they take the CPU the integration tests leave.
test-unit: venv
	$(call in_scratch,unit) nice -n 10 $(VENV)/bin/pytest -n 2 $(call basetemp,unit) tests/unit $(call passed_drop,unit)

# Three pytest processes (xdist workers), each with the shared control plane and engine of
# its own; each of the two groups of `bare_cluster`'s tests stays together in one
# (tests/integration/conftest.py, controlplanes.py). The tests mostly wait (on the control
# plane, on helm, on a retry's interval): with two processes each one's tests summed
# ~268 s, the run's critical path, while the cores were ~60 % busy; with three the
# integration tests alone took ~220 s, the cores busy throughout (bench/RESULTS.md).
test-integration: venv
	$(call in_scratch,integration) $(VENV)/bin/pytest -n 3 --dist loadgroup $(call basetemp,integration) tests/integration $(call passed_drop,integration)

# The Helm helper's own Go tests (its bounds, caches and clients), with the flags its
# build uses, so that they reuse the packages `make helm-server` compiled.
test-helper:
	cd hack/helm/server && CGO_ENABLED=0 go test -trimpath -count=1 ./...

lint: venv
	$(VENV)/bin/ruff check src tests bench hack
	$(VENV)/bin/ruff format --check src tests bench hack
	$(VENV)/bin/mypy

setup: system-packages venv controlplane helm helm-server registry flux s3

# The engine's container image as an OCI image layout in dist/image/, without a container
# daemon, in two deterministic layers (hack/image/): Debian's packages, helm and the
# engine's dependencies (the base layer), then the engine's wheel installed over them (the
# app layer). Its reference is printed; dist/image.json holds sizes and build times. Each
# layer is cached by its inputs (~/.cache/kidp-gitops/image/layers/): a change to src/
# alone rebuilds only the app layer.
image: venv helm helm-server
	PYTHONPATH=$(CURDIR) $(PY) -m hack.image.build

# The wheel and sdist people install until a package is published (docs/validate.md).
wheel: venv
	$(PY) -m build --outdir dist

# Installs only what is missing, so a machine that has everything is not touched. node runs
# the dashboard's JavaScript tests; any node will do, so it is looked for, not its package.
system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages: $$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

controlplane:
	bash hack/controlplane/build.sh >/dev/null

# The helm program, built from its Go module into ~/.cache/kidp-gitops/helm/helm-<version>/.
helm:
	bash hack/helm/build.sh >/dev/null

# The engine's Helm helper (Helm's Go SDK), keyed by the helm version and its sources.
helm-server:
	bash hack/helm/server/build.sh >/dev/null

# A container registry and crane (go-containerregistry), built from their Go module into
# ~/.cache/kidp-gitops/registry/ggcr-<version>/bin/, for the image automation tests.
registry:
	bash hack/registry/build.sh >/dev/null

# The flux CLI, built from its Go module into ~/.cache/kidp-gitops/flux/flux-<version>/bin/,
# the reference the OCI artifact tests check our format against (never shipped or committed).
flux:
	bash hack/flux/build.sh >/dev/null

# An S3-compatible server (versitygw, Apache-2.0), built from its Go module into
# ~/.cache/kidp-gitops/s3/versitygw-<version>/bin/, for the Bucket source's tests.
s3:
	bash hack/s3/build.sh >/dev/null
