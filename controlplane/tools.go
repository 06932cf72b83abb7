//go:build tools

// Package controlplane records the upstream commands the lab builds, so that `go mod tidy`
// keeps their dependencies. It is never compiled into anything.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
