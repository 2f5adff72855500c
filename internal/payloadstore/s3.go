package payloadstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// S3 is a StorageDriver keeping payloads as objects of an S3-compatible
// store (AWS S3, MinIO, Ceph RGW…), under a prefix of one bucket, through
// minio-go. Retries of failed calls are minio-go's.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string // "" or "a/b/"
	where  string
}

// S3DriverName is the S3 driver's name, recorded in history with each
// reference to a payload it stored.
const S3DriverName = "certflow-s3"

var _ converter.StorageDriver = (*S3)(nil)

// S3Options address an S3 store. Without AccessKey and SecretKey the
// client takes AWS's usual credentials: AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (or MinIO's MINIO_ROOT_USER…), ~/.aws/credentials,
// then the role of the instance, task or pod (EC2 metadata, ECS, EKS web
// identity).
type S3Options struct {
	Endpoint  string // host[:port]
	Secure    bool   // HTTPS
	Region    string // may be empty
	Bucket    string
	Prefix    string // may be empty
	AccessKey string
	SecretKey string
	// Transport, when set, carries the calls (tests).
	Transport http.RoundTripper
}

// NewS3 returns the driver for o. It makes no call: a wrong bucket or
// credential shows at the first payload stored.
func NewS3(o S3Options) (*S3, error) {
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
	})
	if o.AccessKey != "" || o.SecretKey != "" {
		creds = credentials.NewStaticV4(o.AccessKey, o.SecretKey, "")
	}
	c, err := minio.New(o.Endpoint, &minio.Options{Creds: creds, Secure: o.Secure, Region: o.Region, Transport: o.Transport})
	if err != nil {
		return nil, fmt.Errorf("payload store s3://%s at %s: %w", o.Bucket, o.Endpoint, err)
	}
	prefix := o.Prefix
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: c, bucket: o.Bucket, prefix: prefix, where: "s3://" + o.Bucket + "/" + prefix}, nil
}

// Name is the driver's name in history; it must never change.
func (s *S3) Name() string { return S3DriverName }

// Type identifies the implementation.
func (s *S3) Type() string { return "certflow.s3" }

// Store puts each payload as its content-addressed object.
func (s *S3) Store(ctx converter.StorageDriverStoreContext, payloads []*commonpb.Payload) ([]converter.StorageDriverClaim, error) {
	return storeAll(ctx, payloads, s.put)
}

// Retrieve gets each claim's object back.
func (s *S3) Retrieve(ctx converter.StorageDriverRetrieveContext, claims []converter.StorageDriverClaim) ([]*commonpb.Payload, error) {
	return retrieveAll(ctx, claims, s.get)
}

func (s *S3) put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/x-protobuf", DisableMultipart: len(data) < 64<<20})
	if err != nil {
		return fmt.Errorf("payload store %s: putting %s: %w", s.where, key, err)
	}
	return nil
}

func (s *S3) get(ctx context.Context, key string) ([]byte, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("payload store %s: getting %s: %w", s.where, key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, maxObject+1))
	if err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil, fmt.Errorf("payload store %s: %s is missing (expired or deleted, or this process uses another store than the one that stored it)", s.where, key)
		}
		return nil, fmt.Errorf("payload store %s: getting %s: %w", s.where, key, err)
	}
	if len(data) > maxObject {
		return nil, fmt.Errorf("payload store %s: %s is more than a payload can be", s.where, key)
	}
	return data, nil
}
