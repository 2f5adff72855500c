package worker

import (
	"errors"

	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/internal/config"
)

// BuildID is this binary's build, stamped at build time
// (-ldflags "-X github.com/certflow/certflow/worker.BuildID=<id>"; make
// build stamps the commit). CERTFLOW_BUILD_ID overrides it.
var BuildID string

// Versioning behaviours, by workflow kind (README, "Production").
//
// A lifecycle is pinned: a run finishes on the build that started it,
// which is the build reviewed for it, and a deploy needs no patch for the
// runs in flight — at the cost of keeping the old build's workers until
// its runs drain (up to a lifecycle's 30 days).
//
// The scratchcard allocator auto-upgrades: it serves every issuance of its
// RA for as long as the RA is used, so it must move to each new build (its
// changes are patched with GetVersion, and replay tests hold them to it).
const (
	lifecycleVersioning = workflow.VersioningBehaviorPinned
	allocatorVersioning = workflow.VersioningBehaviorAutoUpgrade
)

// deploymentOptions turns Worker Versioning on when a deployment name is
// configured: the worker then polls as version (deployment, build ID) and
// runs only the workflows routed to that version.
func deploymentOptions(cfg config.Worker) (sdkworker.DeploymentOptions, error) {
	if cfg.DeploymentName == "" {
		return sdkworker.DeploymentOptions{}, nil
	}
	build := cfg.BuildID
	if build == "" {
		build = BuildID
	}
	if build == "" {
		return sdkworker.DeploymentOptions{}, errors.New("CERTFLOW_DEPLOYMENT_NAME is set but this binary has no build ID: set CERTFLOW_BUILD_ID (the image tag), or build with `make build`")
	}
	return sdkworker.DeploymentOptions{
		UseVersioning:             true,
		Version:                   sdkworker.WorkerDeploymentVersion{DeploymentName: cfg.DeploymentName, BuildID: build},
		DefaultVersioningBehavior: lifecycleVersioning,
	}, nil
}
