package uanataca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// certificate is one entry of a request's certificate_set, in the shape of
// the swagger's GET REQUEST example.
type certificate struct {
	Profile          string `json:"profile"`
	Status           int    `json:"status"`
	ValidFrom        string `json:"valid_from"`
	ValidTo          string `json:"valid_to"`
	Valid            string `json:"valid"`
	RevokationReason *int   `json:"revokation_reason"` // sic, the API's spelling
	SerialNumber     string `json:"serial_number"`
	Subject          string `json:"subject"`
	Data             string `json:"data"` // base64 DER
	Issuer           string `json:"issuer"`
}

// certTimeLayout is how certificate_set dates are written.
const certTimeLayout = "2006-01-02T15:04:05Z"

// defaultValidityDays applies when a request has no validity_time.
const defaultValidityDays = 730

// issuer is the emulated CA. Its certificates are real X.509 (a client may
// parse data) but chain to a key that exists only in this process.
type issuer struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	dn   string
}

func newIssuer() (*issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	name := pkix.Name{
		CommonName:         "UANATACA CA1 SANDBOX EMULATOR",
		OrganizationalUnit: []string{"AC-UANATACA"},
		Organization:       []string{"UANATACA S.A. (emulated)"},
		Country:            []string{"ES"},
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               name,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &issuer{key: key, cert: cert, dn: "CN=UANATACA CA1 SANDBOX EMULATOR, OU=AC-UANATACA, O=UANATACA S.A. (emulated), C=ES"}, nil
}

// issue creates the certificate of request r from its submitted fields.
func (ca *issuer) issue(r *request) (certificate, error) {
	field := func(name string) string {
		s, _ := flexString(r.fields[name])
		return s
	}
	days := defaultValidityDays
	if n, err := strconv.Atoi(field("validity_time")); err == nil && n > 0 {
		days = n
	}
	from := time.Now().UTC().Truncate(time.Minute)
	to := from.AddDate(0, 0, days)

	// An 8-byte serial with the top bits set prints as exactly 16 hex
	// digits, like the RA's.
	raw := make([]byte, 8)
	if _, err := rand.Read(raw); err != nil {
		return certificate{}, err
	}
	raw[0] = raw[0]&0x7f | 0x40
	serial := new(big.Int).SetBytes(raw)

	cn := strings.Join(nonEmpty(field("given_name"), field("surname_1"), field("surname_2")), " ")
	if cn == "" {
		cn = "Sandbox Applicant"
	}
	var idSerial string
	if doc := field("serial_number"); doc != "" {
		idSerial = field("id_document_type") + field("id_document_country") + "-" + doc
	}
	subject := pkix.Name{CommonName: cn, SerialNumber: idSerial}
	if c := field("country_name"); c != "" {
		subject.Country = []string{c}
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        subject,
		NotBefore:      from,
		NotAfter:       to,
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection},
		EmailAddresses: nonEmpty(r.email),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return certificate{}, err
	}

	// The RA writes subjects as "CN=..., 2.5.4.5=..., 2.5.4.42=..., C=...".
	parts := []string{"CN=" + cn}
	if idSerial != "" {
		parts = append(parts, "2.5.4.5="+idSerial)
	}
	if g := field("given_name"); g != "" {
		parts = append(parts, "2.5.4.42="+g)
	}
	if s := strings.Join(nonEmpty(field("surname_1"), field("surname_2")), " "); s != "" {
		parts = append(parts, "2.5.4.4="+s)
	}
	if len(subject.Country) > 0 {
		parts = append(parts, "C="+subject.Country[0])
	}
	return certificate{
		Profile:      r.profile,
		Status:       0,
		ValidFrom:    from.Format(certTimeLayout),
		ValidTo:      to.Format(certTimeLayout),
		Valid:        "VALID",
		SerialNumber: fmt.Sprintf("%016x", serial),
		Subject:      strings.Join(parts, ", "),
		Data:         base64.StdEncoding.EncodeToString(der),
		Issuer:       ca.dn,
	}, nil
}

func nonEmpty(values ...string) []string {
	var out []string
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
