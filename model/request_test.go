package model_test

import (
	"errors"
	"testing"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

func TestRequestValidateControl(t *testing.T) {
	for _, c := range []struct {
		name string
		r    model.Request
		ok   bool
	}{
		{"TypeCode", model.Request{Group: "g", Resource: "r", Action: model.RequestControl, Code: 0x01200004, In: []byte("{}")}, true},
		{"StandardCode", model.Request{Group: "g", Resource: "r", Action: model.RequestControl, Code: 0x01000001}, true},
		{"NoResource", model.Request{Group: "g", Action: model.RequestControl, Code: 0x01200004}, false},
		{"CheckpointCode", model.Request{Group: "g", Resource: "r", Action: model.RequestControl, Code: uint32(sdk.AddRegistryCheckpoint)}, false},
		{"Flush", model.Request{Group: "g", Resource: "r", Action: model.RequestControl, Code: uint32(sdk.FlushCheckpoints)}, false},
		{"SetPrivateProperties", model.Request{Group: "g", Resource: "r", Action: model.RequestControl, Code: uint32(sdk.SetPrivateProperties)}, false},
		{"TooMuchInput", model.Request{Group: "g", Resource: "r", Action: model.RequestControl, Code: 0x01200004, In: make([]byte, model.MaxControlInput+1)}, false},
		{"CodeWithoutControl", model.Request{Group: "g", Resource: "r", Action: model.RequestOnline, Code: 0x01200004}, false},
		{"InputWithoutControl", model.Request{Group: "g", Resource: "r", Action: model.RequestFail, In: []byte{1}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.r.Validate()
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, model.ErrBadRequest)) {
				t.Fatalf("Validate() = %v, want ok %v", err, c.ok)
			}
		})
	}
}
