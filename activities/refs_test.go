package activities

import (
	"encoding/json"
	"testing"
)

func decodeAs[T any](s string) (any, error) {
	var v T
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}

// An activity scheduled before its argument became a struct was given the
// bare id; a newer worker must still decode it.
func TestRefsDecodeBothForms(t *testing.T) {
	tests := []struct {
		name, json string
		decode     func(string) (any, error)
		want       any
		wantErr    bool
	}{
		{"pk object", `{"pk":46760}`, decodeAs[RequestPK], RequestPK{PK: 46760}, false},
		{"bare pk", `46760`, decodeAs[RequestPK], RequestPK{PK: 46760}, false},
		{"pk as a string", `"46760"`, decodeAs[RequestPK], nil, true},
		{"id object", `{"id":"reg_5X"}`, decodeAs[ObjectID], ObjectID{ID: "reg_5X"}, false},
		{"bare id", `"reg_5X"`, decodeAs[ObjectID], ObjectID{ID: "reg_5X"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.decode(tt.json)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("%s decoded as %+v, want an error", tt.json, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("decoded %s as %+v (%v), want %+v", tt.json, got, err, tt.want)
			}
		})
	}
}
