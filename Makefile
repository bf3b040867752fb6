# hamon: hot-standby high availability for Kubernetes.
# Every tool is pinned: Go tools as tool directives of hack/tools/go.mod,
# Kubernetes and etcd built from module sources by hack/build-k8s.sh.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GOTOOL ?= go tool -modfile=hack/tools/go.mod
CONTROLLER_GEN ?= $(GOTOOL) controller-gen
GOLANGCI_LINT ?= $(GOTOOL) golangci-lint
GOVULNCHECK ?= $(GOTOOL) govulncheck
K8S_BIN ?= $(CURDIR)/bin/k8s
export KUBEBUILDER_ASSETS ?= $(K8S_BIN)

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRDs (config/crd/bases) and RBAC (config/rbac) from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=hamon-manager paths=./controllers/... output:rbac:artifacts:config=config/rbac \
		crd:generateEmbeddedObjectMeta=true paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=hamon-nodeagent paths=./nodeagent/... output:rbac:artifacts:config=config/rbac/nodeagent
	go run ./hack/crdtrim config/crd/bases/ha.hamon.io_haservers.yaml spec.template

.PHONY: generate
generate: ## Generate the DeepCopy methods.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w api controllers nodeagent cmd hack

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: ## Run golangci-lint (pinned in hack/tools).
	$(GOLANGCI_LINT) run ./...

.PHONY: lint-fix
lint-fix: ## Run golangci-lint and fix what it can.
	$(GOLANGCI_LINT) run --fix ./...

.PHONY: vulncheck
vulncheck: ## Run govulncheck (pinned in hack/tools).
	$(GOVULNCHECK) ./...

.PHONY: verify
verify: ## Fail if generated files, go.mod or gofmt are not up to date.
	$(MAKE) generate manifests
	go mod tidy
	cd hack/tools && go mod tidy
	@test -z "$$(gofmt -l api controllers nodeagent cmd hack)" || { gofmt -l api controllers nodeagent cmd hack; echo "gofmt needed"; exit 1; }
	@git diff --exit-code -- api config go.mod go.sum hack/tools/go.mod hack/tools/go.sum || { echo "generated files or go.mod are out of date: run make generate manifests and go mod tidy, then commit"; exit 1; }

##@ Test

.PHONY: control-plane-bin
control-plane-bin: ## Build kube-apiserver, etcd and kubectl from module sources into bin/k8s (cached).
	hack/build-k8s.sh kube-apiserver etcd kubectl

.PHONY: test
test: control-plane-bin ## Run every test: unit, property and the real-API-server suites.
	go test -count=1 ./...

.PHONY: test-short
test-short: control-plane-bin ## Quicker run (fewer property-test sequences).
	go test -count=1 -short ./...

.PHONY: fuzz
fuzz: ## Fuzz the state machine for FUZZTIME (default 2m).
	go test -run XXX -fuzz FuzzStep -fuzztime $${FUZZTIME:-2m} ./controllers/hotstandby/

##@ Build

.PHONY: build
build: ## Build the binaries into bin/.
	@mkdir -p bin
	CGO_ENABLED=0 go build -trimpath -o bin/ ./cmd/...

.PHONY: control-plane
control-plane: control-plane-bin ## Start a local control plane (etcd + kube-apiserver on 127.0.0.1).
	hack/control-plane.sh start

.PHONY: control-plane-stop
control-plane-stop: ## Stop the local control plane.
	hack/control-plane.sh stop

##@ Demo

.PHONY: demo
demo: ## A local control plane, the operator, simulated hosts and live switchovers (Ctrl-C ends it).
	hack/demo.sh

.PHONY: bench
bench: ## Switchover times by cause (distributions) and API writes at rest, on simulated hosts.
	hack/bench.sh $(BENCH_FLAGS)
