# kubectl-etcd — run `make help` for the targets.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin
PREFIX ?= $(shell $(GO) env GOPATH)/bin
PKG := github.com/kubectl-etcd/kubectl-etcd
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X $(PKG)/pkg/version.Version=$(VERSION) -X $(PKG)/pkg/version.Commit=$(COMMIT) -X $(PKG)/pkg/version.Date=$(DATE)
E2E_ETCD_VERSIONS ?= v3.6.16 v3.7.3
E2E_TIMEOUT ?= 40m
# make test-e2e runs the etcd versions at once, each on its own harness cluster (0: one after the other).
E2E_PARALLEL ?= 1
KUBEADM_E2E_TIMEOUT ?= 30m
KUBEADM_DIR ?= /tmp/kubectl-etcd-kubeadm
# make test-kubeadm runs the external-etcd suite after the stacked one; KUBEADM_EXTERNAL=0 skips it.
KUBEADM_EXTERNAL ?= 1
KUBEADM_EXTERNAL_E2E_TIMEOUT ?= 15m
# What the kubeadm cluster needs from the distribution, installed when missing.
KUBEADM_PACKAGES := containerd runc iptables conntrack socat
# golangci-lint, pinned; built once from the Go module proxy into bin/tools (make lint).
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

.PHONY: help build install test test-e2e e2e-tools e2e-up test-kubeadm test-kubeadm-external kubeadm-tools kubeadm-up kubeadm-down bench bench-kubeadm dist verify-krew verify-krew-manifest verify fmt vet lint tidy-check clean testdata

help: ## Show this help
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z0-9_-]+:.*## /{printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/kubectl-etcd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-etcd ./cmd/kubectl-etcd

install: build ## Install kubectl-etcd into PREFIX (default: GOPATH/bin) so that `kubectl etcd` finds it
	install -d $(PREFIX) && install -m 0755 $(BIN)/kubectl-etcd $(PREFIX)/kubectl-etcd
	@echo "installed $(PREFIX)/kubectl-etcd; make sure $(PREFIX) is on PATH, then run: kubectl etcd status"

test: ## Run the unit tests
	$(GO) test -count=1 ./...

e2e-tools: ## Build (once, cached by version) etcd, kube-apiserver, kubectl and kwok for the e2e harness
	hack/e2e-tools.sh

test-e2e: build e2e-tools ## Run the end-to-end tests on a real etcd + kube-apiserver + kwok cluster, for every etcd version at once (E2E_PARALLEL=0: one after the other; e2e/kubeadm is make test-kubeadm)
	@set -e; cd test; \
	  pkgs=$$($(GO) list ./e2e/... | grep -v '/e2e/kubeadm\(ext\)\?$$' | tr '\n' ' '); logs=$$(mktemp -d); pids=(); \
	  for v in $(E2E_ETCD_VERSIONS); do \
	    run="E2E_ETCD_VERSION=$$v KUBECTL_ETCD=$(CURDIR)/$(BIN)/kubectl-etcd $(GO) test -count=1 -p 1 -timeout $(E2E_TIMEOUT) $$pkgs"; \
	    if [ "$(E2E_PARALLEL)" = 0 ]; then echo "=== e2e with etcd $$v"; eval "$$run"; \
	    else echo "=== e2e with etcd $$v (in parallel; output below when it ends)"; (set +e; eval "$$run" >"$$logs/$$v.log" 2>&1; echo $$? >"$$logs/$$v.rc") & pids+=($$!); fi; \
	  done; \
	  [ $${#pids[@]} -eq 0 ] || wait "$${pids[@]}"; rc=0; \
	  for v in $(E2E_ETCD_VERSIONS); do \
	    [ -f "$$logs/$$v.rc" ] || continue; echo "=== e2e with etcd $$v"; cat "$$logs/$$v.log"; \
	    [ "$$(cat "$$logs/$$v.rc")" = 0 ] || { echo "=== e2e with etcd $$v FAILED"; rc=1; }; \
	  done; rm -rf "$$logs"; exit $$rc

e2e-up: build e2e-tools ## Start a harness cluster by hand (Ctrl-C stops it); E2E_ETCD_VERSION picks etcd
	cd test && $(GO) run ./e2e/harness/cmd/e2e-up --etcd-version=$${E2E_ETCD_VERSION:-v3.6.16}

kubeadm-tools: ## Build (once, cached) what the kubeadm cluster runs; apt-get install containerd, runc, ... when missing
	@missing=""; for c in containerd runc iptables conntrack socat; do command -v $$c >/dev/null || missing=1; done; \
	  if [ -n "$$missing" ]; then echo "installing $(KUBEADM_PACKAGES)"; \
	    apt-get update -qq && apt-get install -y -qq $(KUBEADM_PACKAGES) >/dev/null; fi
	ETCD_VERSIONS=v3.6.16 hack/e2e-tools.sh etcd k8s kubeadm

test-kubeadm: build kubeadm-tools ## Run the e2e suite on a kubeadm-made 3-node control plane (real kubelet, containerd, distroless etcd), then test-kubeadm-external (KUBEADM_EXTERNAL=0: not)
	cd test && KUBECTL_ETCD=$(CURDIR)/$(BIN)/kubectl-etcd \
	  $(GO) test -count=1 -p 1 -timeout $(KUBEADM_E2E_TIMEOUT) -v ./e2e/kubeadm/
	@if [ "$(KUBEADM_EXTERNAL)" = 1 ]; then $(MAKE) --no-print-directory test-kubeadm-external-run; fi

test-kubeadm-external: build kubeadm-tools test-kubeadm-external-run ## Run the e2e suite on kubeadm's external-etcd topology (3 etcd hosts with standalone kubelets, 1 control-plane node)

test-kubeadm-external-run:
	cd test && KUBECTL_ETCD=$(CURDIR)/$(BIN)/kubectl-etcd \
	  $(GO) test -count=1 -p 1 -timeout $(KUBEADM_EXTERNAL_E2E_TIMEOUT) -v ./e2e/kubeadmext/

kubeadm-up: kubeadm-tools ## Start the kubeadm cluster by hand in KUBEADM_DIR (stop it with make kubeadm-down)
	hack/kubeadm-cluster.sh up $(KUBEADM_DIR)
	@echo "export KUBECONFIG=$(KUBEADM_DIR)/kubeconfig"

kubeadm-down: ## Stop the kubeadm cluster and remove its namespaces, bridge and cgroups
	hack/kubeadm-cluster.sh down

bench: build e2e-tools ## Snapshot throughput (plugin vs etcdctl, ~500 MiB), then plain vs zstd/gzip/age saves of ~100 MiB of ConfigMaps and Secrets; usage --file on ~1 GiB backends; then bench-kubeadm
	KUBECTL_ETCD=$(CURDIR)/$(BIN)/kubectl-etcd hack/bench.sh $(BENCH_ARGS)
	cd test && KUBECTL_ETCD=$(CURDIR)/$(BIN)/kubectl-etcd $(GO) run ./bench/usage $(BENCH_USAGE_ARGS)
	$(MAKE) bench-kubeadm

bench-kubeadm: build kubeadm-tools ## On the running kubeadm cluster (else a new one, left running): status exec vs the etcdctl one-liner; snapshot save by helper pod, port-forward, kubectl port-forward + etcdctl and direct etcdctl: ratios, CPU per MiB, peak RSS
	@dir=$$(cat /run/kubectl-etcd-e2e/kubeadm.dir 2>/dev/null); \
	  if [ -z "$$dir" ] || [ ! -r "$$dir/kubeconfig" ]; then dir=$$(mktemp -d /tmp/kubectl-etcd-kubeadm-bench-XXXXXX); hack/kubeadm-cluster.sh up $$dir; \
	    echo "the cluster stays up in $$dir (make kubeadm-down stops it)"; fi; \
	  cd test && KUBECTL_ETCD=$(CURDIR)/$(BIN)/kubectl-etcd $(GO) run ./bench/kubeadm -dir $$dir $(BENCH_KUBEADM_ARGS)

testdata: ## Re-capture the real etcdctl output used by the exec transport's unit tests
	hack/e2e-tools.sh etcd && hack/capture-etcdctl-testdata.sh

dist: ## Build release archives for all platforms into dist/ and render dist/etcd.yaml (RELEASE=vX.Y.Z also writes plugins/etcd.yaml)
	hack/dist.sh $(RELEASE)

verify-krew: dist ## Validate the krew manifest with krew, install the dist/ archive with krew and run kubectl etcd through kubectl
	hack/krew-install-test.sh

verify-krew-manifest: ## Validate plugins/etcd.yaml with krew's validate-krew-manifest (no build)
	hack/krew-install-test.sh --validate-only

verify: fmt vet lint tidy-check verify-krew-manifest ## gofmt, go vet, golangci-lint, go mod tidy checks (both modules) and the krew manifest

fmt:
	@out=$$(gofmt -l cmd pkg test hack); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd test && $(GO) vet ./...

lint: $(GOLANGCI_LINT) ## golangci-lint (errcheck, govet, staticcheck, unused, errorlint, revive; .golangci.yml) on both modules
	$(GOLANGCI_LINT) run ./...
	cd test && ../$(GOLANGCI_LINT) run --config ../.golangci.yml ./...

$(GOLANGCI_LINT):
	GOBIN=$(abspath $(dir $(GOLANGCI_LINT))) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

tidy-check:
	@for d in . test; do (cd $$d && cp go.mod /tmp/go.mod.bak && cp go.sum /tmp/go.sum.bak && $(GO) mod tidy && \
	  if ! git diff --quiet -- go.mod go.sum; then echo "go mod tidy changes $$d/go.mod or go.sum"; \
	  cp /tmp/go.mod.bak go.mod; cp /tmp/go.sum.bak go.sum; exit 1; fi); done

clean: ## Remove build output
	rm -rf $(BIN) dist
