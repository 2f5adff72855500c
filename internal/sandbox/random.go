package sandbox

import (
	"crypto/rand"
	"encoding/hex"
)

// RandomHex returns n random bytes in hex (2n digits), the shape of many
// providers' ids and key ids. It draws from crypto/rand, which never fails,
// so that ids are unguessable as a real provider's are and no caller
// handles an error that cannot happen.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
