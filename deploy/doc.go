// Package deploy holds certflow's deployment files: the image
// (Dockerfile), the Kubernetes manifests (kubernetes/) and the values for
// the official Temporal Helm chart on PostgreSQL (temporal/). It has no
// code; its tests decode the files and check them against the worker.
package deploy
