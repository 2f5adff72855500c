package activities

import (
	"encoding/json"
	"fmt"
)

// The arguments that name one object at a provider. Activities scheduled
// before these types existed were given the bare id or pk, and a polling
// activity can keep retrying such an argument for weeks; so each also
// decodes its bare form, and a worker deployed with them resumes those
// activities instead of failing them.

// RequestPK names an RA request by its pk.
type RequestPK struct {
	PK int64 `json:"pk"`
}

// UnmarshalJSON reads {"pk": 46760} or the bare 46760.
func (r *RequestPK) UnmarshalJSON(b []byte) error {
	return decodeRef(b, &r.PK, func(b []byte) error {
		type plain RequestPK
		return json.Unmarshal(b, (*plain)(r))
	})
}

// ObjectID names a Universign registration, a MasStack identification or a
// Humanos request by its id.
type ObjectID struct {
	ID string `json:"id"`
}

// UnmarshalJSON reads {"id": "reg_5X"} or the bare "reg_5X".
func (o *ObjectID) UnmarshalJSON(b []byte) error {
	return decodeRef(b, &o.ID, func(b []byte) error {
		type plain ObjectID
		return json.Unmarshal(b, (*plain)(o))
	})
}

// decodeRef decodes b as an object with decodeObject, or else as the bare
// value into bare.
func decodeRef(b []byte, bare any, decodeObject func([]byte) error) error {
	if len(b) > 0 && b[0] == '{' {
		return decodeObject(b)
	}
	if err := json.Unmarshal(b, bare); err != nil {
		return fmt.Errorf("activity argument %s: want an object or a bare id: %w", b, err)
	}
	return nil
}
