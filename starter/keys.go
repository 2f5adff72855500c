package starter

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/converter"

	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/payloadstore"
)

// DevKeyFile finds the dev stack's payload key for a CLI given no key:
// the file certflow-dev keeps (.dev/codec.keys) in dir or the nearest
// parent that has one, so `certflow` run anywhere in the checkout reads
// what `make dev` writes. It is looked for only when Temporal is on this
// machine (hostPort empty, localhost or a loopback address): a dev key is
// never used against a shared cluster. "" when there is none.
func DevKeyFile(hostPort, dir string) string {
	if !loopback(hostPort) {
		return ""
	}
	for {
		path := filepath.Join(dir, codec.DevStateDir, codec.DevKeysName)
		if _, err := os.Stat(path); err == nil {
			return path
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// DevPayloadStore finds the dev stack's payload store for a CLI given
// none, as DevKeyFile finds its key and under the same conditions: the
// folder certflow-dev keeps beside the key (.dev/payloads), as a
// CERTFLOW_PAYLOAD_STORE URL, so `certflow start uanataca -document …`
// with real-size scans works against `make dev`. "" when there is none.
func DevPayloadStore(hostPort, dir string) string {
	keys := DevKeyFile(hostPort, dir)
	if keys == "" {
		return ""
	}
	store, err := filepath.Abs(filepath.Join(filepath.Dir(keys), payloadstore.DevDirName))
	if err != nil {
		return ""
	}
	if info, err := os.Stat(store); err != nil || !info.IsDir() {
		return ""
	}
	return (&url.URL{Scheme: "file", Path: store}).String()
}

// loopback reports whether hostPort ("" is the SDK's default,
// localhost:7233) is on this machine.
func loopback(hostPort string) bool {
	if hostPort == "" {
		return true
	}
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// errNoKeyToSend refuses to send a payload (a workflow's input, a webhook
// hint, a cancel reason) that would be stored in Temporal in clear.
var errNoKeyToSend = usageError{help: "README, \"Data protection\"", msg: "no codec key: what this command sends (for a start, the applicant's personal data) would be stored in Temporal in clear, " +
	"and a worker holding a key refuses it. Set CERTFLOW_CODEC_KEYS or CERTFLOW_CODEC_KEY_FILE to the worker's key " +
	"(the dev stack's is " + filepath.Join(codec.DevStateDir, codec.DevKeysName) + ", found by itself when run in the checkout), " +
	"or CERTFLOW_ALLOW_PLAINTEXT=true if your worker stores payloads in clear"}

// checkCanSend refuses, without a key, to send a workflow a payload,
// unless plaintext is allowed.
func (c *CLI) checkCanSend() error {
	if !c.Encrypted && !c.Config.Codec.AllowPlaintext {
		return errNoKeyToSend
	}
	return nil
}

// explainNoKey adds to an error from data this CLI could not decode,
// because it has no key, what to do about it.
func (c *CLI) explainNoKey(err error) error {
	if err == nil || c.Encrypted {
		return err
	}
	if errors.Is(err, converter.ErrEncodingIsNotSupported) || strings.Contains(err.Error(), "Encoded failure") {
		return fmt.Errorf("%w (the workflow's data is encrypted and this command has no codec key: set CERTFLOW_CODEC_KEYS or CERTFLOW_CODEC_KEY_FILE to the worker's key)", err)
	}
	return err
}
