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

.PHONY: chart-sync
chart-sync: ## Copy the CRDs, RBAC and admission policies of config/ into charts/hamon.
	hack/chart-sync.sh

.PHONY: generate
generate: ## Generate the DeepCopy methods.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w api controllers nodeagent cmd hack charts

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: ## Run golangci-lint (pinned in hack/tools).
	$(GOLANGCI_LINT) run --allow-parallel-runners --build-tags e2e,bench,soak,cluster,scsivm ./...

.PHONY: lint-fix
lint-fix: ## Run golangci-lint and fix what it can.
	$(GOLANGCI_LINT) run --fix ./...

.PHONY: vulncheck
# CI cannot reach vuln.go.dev: govulncheck reads the committed snapshot named in
# hack/vulndb/SOURCE (refresh with hack/vulndb/snapshot.sh). VULNDB=https://vuln.go.dev
# checks against the live database where it is reachable.
VULNDB ?= file://$(CURDIR)/bin/vulndb/osv
vulncheck: ## Run govulncheck (pinned in hack/tools) on hamon, and prove on a canary that it finds a known vulnerability.
	@cat hack/vulndb/SOURCE
	rm -rf bin/vulndb && mkdir -p bin/vulndb && tar -C bin/vulndb -xzf hack/vulndb/osv.tar.gz
	$(GOVULNCHECK) -db $(VULNDB) ./...
	@cd hack/vulndb/canary && out=$$(go tool -modfile=$(CURDIR)/hack/tools/go.mod govulncheck -db $(VULNDB) ./... 2>&1) && rc=0 || rc=$$?; \
	  if [ $$rc -ne 3 ] || ! printf '%s' "$$out" | grep -q GO-2021-0113; then \
	    printf '%s\n' "$$out"; echo "vulncheck: the canary's known vulnerability GO-2021-0113 was not found (rc=$$rc): the database is not being read"; exit 1; fi; \
	  echo "vulncheck: canary found GO-2021-0113 as it should"

.PHONY: verify
verify: ## Fail if generated files, go.mod or gofmt are not up to date.
	$(MAKE) generate manifests chart-sync
	go mod tidy
	cd hack/tools && go mod tidy
	@test -z "$$(gofmt -l api controllers nodeagent cmd hack charts)" || { gofmt -l api controllers nodeagent cmd hack charts; echo "gofmt needed"; exit 1; }
	@git diff --exit-code -- api config charts go.mod go.sum hack/tools/go.mod hack/tools/go.sum || { echo "generated files or go.mod are out of date: run make generate manifests and go mod tidy, then commit"; exit 1; }

##@ Test

.PHONY: control-plane-bin
control-plane-bin: ## Build kube-apiserver, etcd and kubectl from module sources into bin/k8s (cached).
	hack/build-k8s.sh kube-apiserver etcd kubectl

.PHONY: helm-bin
helm-bin: ## Build helm from module sources into bin/helm (cached).
	hack/build-helm.sh

.PHONY: promtool-bin
promtool-bin: ## Build promtool from module sources into bin/promtool (cached), for the chart's alert rules.
	hack/build-promtool.sh

.PHONY: test
test: control-plane-bin helm-bin promtool-bin ## Run every test: unit, property and the real-API-server suites.
	go test -count=1 ./...

.PHONY: test-short
test-short: control-plane-bin helm-bin promtool-bin ## Quicker run (fewer property-test sequences).
	go test -count=1 -short ./...

.PHONY: test-e2e
test-e2e: control-plane-bin ## End-to-end: controller, simulated hosts and agents as processes; faults injected (about 4 min).
	go test -count=1 -tags e2e -timeout 20m ./hack/e2e/...

.PHONY: test-cluster
test-cluster: control-plane-bin helm-bin ## hamon's chart on a local 3-node cluster (kubelets + containerd, no Docker): failovers, upgrade, uninstall; root, about 3.5 min warm.
	hack/build-k8s.sh kubelet kube-scheduler kube-controller-manager
	hack/cluster/images.sh v1
	@rc=0; go test -count=1 -v -tags cluster -timeout 45m ./hack/cluster/clustertest/ || rc=$$?; \
	  [ -n "$${HAMON_CLUSTER_KEEP:-}" ] || hack/cluster/cluster.sh down >/dev/null 2>&1 || true; exit $$rc

.PHONY: cluster-up
cluster-up: control-plane-bin ## Start test-cluster's local cluster (nodes hc-a, hc-b, hc-c) and leave it running.
	hack/build-k8s.sh kubelet kube-scheduler kube-controller-manager
	hack/cluster/images.sh v1
	hack/cluster/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and undo what it changed on the machine.
	hack/cluster/cluster.sh down

.PHONY: soak
soak: control-plane-bin ## Random faults (HAMON_SOAK_STEPS, default 40) on three simulated hosts and four servers, checking one active copy each (HAMON_SOAK_SEED replays).
	mkdir -p bin && go test -count=1 -tags e2e,soak -run TestSoak -timeout 120m -v ./hack/e2e/ 2>&1 | tee bin/soak.log | grep -E --line-buffered 'soak_test.go|e2e_test.go|simcluster.go:.*whole logs|^(FAIL|ok|---)'

.PHONY: fuzz
fuzz: ## Fuzz the state machine, the isolation rule and the SCSI parsers, each for FUZZTIME (default 2m).
	go test -run XXX -fuzz FuzzStep -fuzztime $${FUZZTIME:-2m} ./controllers/hotstandby/
	go test -run XXX -fuzz FuzzDecide -fuzztime $${FUZZTIME:-2m} ./nodeagent/lease/
	go test -run XXX -fuzz FuzzParsers -fuzztime $${FUZZTIME:-2m} ./nodeagent/scsipr/
	go test -run XXX -fuzz FuzzSysfsResolver -fuzztime $${FUZZTIME:-2m} ./nodeagent/scsipr/

.PHONY: test-scsi
test-scsi: ## The agent's SCSI code on a real Linux SCSI stack (LIO, iSCSI, dm-multipath) in QEMU guests; root, about 10 min cold.
	hack/scsi-vm/run.sh

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
bench: control-plane-bin ## Failover times by cause (split), swaps, API requests, CPU/RSS, 1k/5k servers (BENCH_RUNS, BENCH_SCALE).
	@mkdir -p bin/bench && rm -f bin/bench/latest.txt
	go test -count=1 -tags bench -run TestBench -timeout 120m -v ./hack/bench/ 2>&1 | tee bin/bench/log.txt | grep -E --line-buffered 'bench_test.go|^(FAIL|ok|---)'
	@cat bin/bench/latest.txt
