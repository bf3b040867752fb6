// Package charts holds hamon's Helm chart (charts/hamon) and no code. Its
// tests run bin/helm (built from module sources by `make helm-bin`): they
// lint the chart, render it with several value sets and apply every object
// to a real kube-apiserver with a server-side dry run, check that wrong
// values are refused with a message naming them, and that the CRDs, RBAC
// and admission policies of the chart are those of config/ (`make
// chart-sync`).
package charts
