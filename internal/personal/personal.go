// Package personal says which fields hold personal data (names, emails,
// phones, document numbers), by name: the one list that log redaction and
// provider error messages both use.
package personal

import "bytes"

// parts are the normalised substrings that make any key containing
// one personal, which also covers email, phone, phone_number,
// mobile_phone_number, surname_1, surname_2, document_number and
// id_document_number.
var parts = [][]byte{[]byte("email"), []byte("phone"), []byte("surname"), []byte("documentnumber")}

// Key reports whether a field named key holds personal data. Keys are
// compared lower-cased with everything but ASCII letters and digits dropped,
// so "given_name", "givenName", "Given-Name" and "GIVENNAME" are one key, and
// a field keeps being redacted when someone renames it to another convention.
// The key may be raw JSON string content: escapes are not decoded, which only
// matters for a key spelled with escapes; certflow's keys never need any.
func Key[T string | []byte](key T) bool {
	var buf [64]byte
	k := buf[:0]
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		default:
			continue
		}
		k = append(k, c)
	}
	for _, part := range parts {
		if bytes.Contains(k, part) {
			return true
		}
	}
	switch string(k) {
	case "name", "givenname", "lastname", "fullname", "serialnumber",
		"docid", "contact", "contacts", "applicant":
		return true
	}
	return false
}
