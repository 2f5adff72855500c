package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// PayloadStore configures where payloads too big for Temporal's history
// (a Uanataca issuance's document scans) are kept instead: the SDK's
// external storage, through internal/payloadstore. History then holds a
// reference of a few hundred bytes per payload. Every process that starts
// certflow workflows or runs them (worker, CLI, services through
// certflowclient) must use the same store; a worker also serves the
// stored payloads' references to the Web UI as they are.
type PayloadStore struct {
	// URL is file:///absolute/dir, or
	// s3://bucket/prefix?endpoint=host:port&region=…&secure=true|false;
	// empty: no store, and a payload above Temporal's limit is refused.
	URL string `envconfig:"CERTFLOW_PAYLOAD_STORE"`
	// Threshold is the size from which a payload (as encrypted) goes to
	// the store rather than into history.
	Threshold ByteSize `envconfig:"CERTFLOW_PAYLOAD_STORE_THRESHOLD" default:"256KiB"`
	// AccessKey and SecretKey are an s3:// store's credentials, given
	// directly or in files (AccessKeyFile, SecretKeyFile: mount them from
	// a secret store). Without them the S3 client looks for AWS's usual
	// ones: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws/credentials,
	// then the instance's or pod's role (EC2, ECS, EKS web identity).
	AccessKey     string `envconfig:"CERTFLOW_PAYLOAD_STORE_ACCESS_KEY"`
	AccessKeyFile string `envconfig:"CERTFLOW_PAYLOAD_STORE_ACCESS_KEY_FILE"`
	SecretKey     string `envconfig:"CERTFLOW_PAYLOAD_STORE_SECRET_KEY"`
	SecretKeyFile string `envconfig:"CERTFLOW_PAYLOAD_STORE_SECRET_KEY_FILE"`
}

// Bounds of CERTFLOW_PAYLOAD_STORE_THRESHOLD. Above the maximum, a
// workflow task that schedules a few payloads just under the threshold
// could exceed Temporal's 4 MB gRPC message, and one payload would come
// close to its 2 MB per payload.
const (
	MinPayloadStoreThreshold ByteSize = 1 << 10
	MaxPayloadStoreThreshold ByteSize = 1 << 20
)

// payloadStoreUsage says what CERTFLOW_PAYLOAD_STORE takes.
const payloadStoreUsage = "write file:///absolute/dir (one host: the dev stack, a single server), " +
	"or s3://bucket/prefix?endpoint=host:port&region=eu-west-1&secure=true (AWS S3, MinIO, Ceph…; " +
	"endpoint defaults to s3.amazonaws.com, secure to true; credentials go in CERTFLOW_PAYLOAD_STORE_ACCESS_KEY and _SECRET_KEY)"

// StoreLocation is where CERTFLOW_PAYLOAD_STORE keeps payloads: Dir for
// a file:// store, Bucket and the rest for an s3:// one.
type StoreLocation struct {
	// Dir is a file:// store's directory, absolute.
	Dir string
	// Bucket, Prefix (no leading or trailing slash; may be empty),
	// Endpoint (host[:port]), Region (may be empty) and Secure (HTTPS)
	// address an s3:// store.
	Bucket, Prefix, Endpoint, Region string
	Secure                           bool
}

// IsFile and IsS3 say which kind of store it is; neither: no store.
func (l StoreLocation) IsFile() bool { return l.Dir != "" }
func (l StoreLocation) IsS3() bool   { return l.Bucket != "" }

// String describes the location for logs and banners; it holds no
// credential.
func (l StoreLocation) String() string {
	switch {
	case l.IsFile():
		return (&url.URL{Scheme: "file", Path: l.Dir}).String()
	case l.IsS3():
		scheme := "https"
		if !l.Secure {
			scheme = "http"
		}
		s := "s3://" + l.Bucket + "/" + l.Prefix + " at " + scheme + "://" + l.Endpoint
		if l.Region != "" {
			s += " (" + l.Region + ")"
		}
		return s
	}
	return "none"
}

var (
	// bucketName is S3's rule for bucket names.
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// prefixSegment is what a prefix's segments may hold.
	prefixSegment = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// Location parses URL; the zero StoreLocation when it is empty. Its
// error says what to write, and never repeats credentials.
func (p PayloadStore) Location() (StoreLocation, error) {
	if p.URL == "" {
		return StoreLocation{}, nil
	}
	bad := func(why string) (StoreLocation, error) {
		shown := p.URL
		if strings.Contains(shown, "@") {
			shown = "(not shown: it may hold a credential)"
		} else {
			shown = strconv.Quote(shown)
		}
		return StoreLocation{}, fmt.Errorf("CERTFLOW_PAYLOAD_STORE %s: %s; %s", shown, why, payloadStoreUsage)
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return bad("not a URL")
	}
	if u.User != nil {
		return bad("credentials do not go in the URL")
	}
	switch u.Scheme {
	case "file":
		if u.Opaque != "" || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
			return bad("a file store needs an absolute directory, with three slashes")
		}
		if u.RawQuery != "" {
			return bad("a file store takes no parameters")
		}
		return StoreLocation{Dir: filepath.Clean(u.Path)}, nil
	case "s3":
		l := StoreLocation{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Endpoint: "s3.amazonaws.com", Secure: true}
		if !bucketName.MatchString(l.Bucket) {
			return bad("the bucket name (after s3://) must be 3 to 63 lowercase letters, digits, dots or hyphens")
		}
		if l.Prefix != "" {
			for _, seg := range strings.Split(l.Prefix, "/") {
				if !prefixSegment.MatchString(seg) || seg == "." || seg == ".." {
					return bad("the prefix (after the bucket) must be segments of letters, digits, dots, hyphens or underscores")
				}
			}
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return bad("unreadable parameters")
		}
		for name, values := range q {
			if len(values) != 1 {
				return bad("parameter " + name + " given more than once")
			}
			v := values[0]
			switch name {
			case "endpoint":
				if strings.Contains(v, "/") {
					return bad("endpoint is host:port, without scheme or path (secure=false for plain HTTP)")
				}
				if _, _, err := net.SplitHostPort(v); err != nil && strings.Contains(v, ":") {
					return bad("endpoint is host or host:port")
				}
				if v == "" {
					return bad("endpoint is empty")
				}
				l.Endpoint = v
			case "region":
				l.Region = v
			case "secure":
				if l.Secure, err = strconv.ParseBool(v); err != nil {
					return bad("secure is true or false")
				}
			default:
				return bad("unknown parameter " + strconv.Quote(name) + " (the parameters are endpoint, region and secure)")
			}
		}
		return l, nil
	}
	return bad("the scheme must be file or s3")
}

// Check refuses a payload store setting that cannot work, saying what to
// write: an unreadable URL, a threshold out of bounds, credentials given
// twice, or given with no S3 store to use them.
func (p PayloadStore) Check() error {
	l, err := p.Location()
	if err != nil {
		return err
	}
	if p.Threshold < MinPayloadStoreThreshold || p.Threshold > MaxPayloadStoreThreshold {
		return fmt.Errorf("CERTFLOW_PAYLOAD_STORE_THRESHOLD %s: write a size from %s to %s, such as 256KiB (the default)", p.Threshold, MinPayloadStoreThreshold, MaxPayloadStoreThreshold)
	}
	secrets := []struct {
		name, value, file string
	}{
		{"CERTFLOW_PAYLOAD_STORE_ACCESS_KEY", p.AccessKey, p.AccessKeyFile},
		{"CERTFLOW_PAYLOAD_STORE_SECRET_KEY", p.SecretKey, p.SecretKeyFile},
	}
	given := 0
	for _, s := range secrets {
		if s.value != "" && s.file != "" {
			return fmt.Errorf("%s and %s_FILE are both set: set one", s.name, s.name)
		}
		if s.value != "" || s.file != "" {
			given++
			if !l.IsS3() {
				return fmt.Errorf("%s is set, but CERTFLOW_PAYLOAD_STORE is not an s3:// store: the credentials are an S3 store's", s.name)
			}
		}
	}
	if given == 1 {
		return errors.New("set both CERTFLOW_PAYLOAD_STORE_ACCESS_KEY and CERTFLOW_PAYLOAD_STORE_SECRET_KEY (or their _FILE), or neither to use AWS's usual credentials")
	}
	return nil
}

// Credentials returns the S3 access and secret keys, read from their
// files when given that way; both empty when none is configured.
func (p PayloadStore) Credentials() (access, secret string, err error) {
	read := func(name, value, file string) (string, error) {
		if file == "" {
			return value, nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s_FILE %s is empty", name, file)
		}
		return v, nil
	}
	if access, err = read("CERTFLOW_PAYLOAD_STORE_ACCESS_KEY", p.AccessKey, p.AccessKeyFile); err != nil {
		return "", "", err
	}
	if secret, err = read("CERTFLOW_PAYLOAD_STORE_SECRET_KEY", p.SecretKey, p.SecretKeyFile); err != nil {
		return "", "", err
	}
	return access, secret, nil
}

// ByteSize is a size in bytes, written as a number of bytes or with a
// binary unit: 262144, 256KiB, 1MiB (KB and MB are read as KiB and MiB).
type ByteSize int

var byteUnits = []struct {
	suffix string
	n      ByteSize
}{{"MiB", 1 << 20}, {"KiB", 1 << 10}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}

// Decode reads a size for envconfig.
func (b *ByteSize) Decode(s string) error {
	s = strings.TrimSpace(s)
	unit := ByteSize(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, unit = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > (1<<40)/int(unit) {
		return fmt.Errorf("want a size such as 262144, 256KiB or 1MiB")
	}
	*b = ByteSize(n) * unit
	return nil
}

// String writes the size as Decode reads it, in the largest unit that
// divides it.
func (b ByteSize) String() string {
	switch {
	case b != 0 && b%(1<<20) == 0:
		return strconv.Itoa(int(b>>20)) + "MiB"
	case b != 0 && b%(1<<10) == 0:
		return strconv.Itoa(int(b>>10)) + "KiB"
	}
	return strconv.Itoa(int(b))
}
