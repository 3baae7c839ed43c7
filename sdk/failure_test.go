package sdk_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/resmon/resmon/sdk"
)

func TestClassOf(t *testing.T) {
	base := errors.New("agent not installed")
	for _, c := range []struct {
		name string
		err  error
		want sdk.FailureClass
	}{
		{"Nil", nil, sdk.ClassRestart},
		{"Plain", base, sdk.ClassRestart},
		{"BanNode", sdk.BanNode(base), sdk.ClassBanNode},
		{"FailEverywhere", sdk.FailEverywhere(base), sdk.ClassFailEverywhere},
		{"Wrapped", fmt.Errorf("Online: %w", sdk.BanNode(base)), sdk.ClassBanNode},
		{"OutermostWins", sdk.FailEverywhere(sdk.BanNode(base)), sdk.ClassFailEverywhere},
		{"Joined", errors.Join(base, sdk.FailEverywhere(base)), sdk.ClassFailEverywhere},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sdk.ClassOf(c.err); got != c.want {
				t.Fatalf("ClassOf(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
	if sdk.BanNode(nil) != nil || sdk.FailEverywhere(nil) != nil {
		t.Fatal("a class given to nil must stay nil")
	}
	err := sdk.BanNode(fmt.Errorf("start: %w", sdk.ErrAccessDenied))
	if !errors.Is(err, sdk.ErrAccessDenied) || err.Error() != "start: access denied by the host" {
		t.Fatalf("the class hides its error: %v", err)
	}
}

func TestIsTypeCode(t *testing.T) {
	for _, c := range []struct {
		code sdk.ControlCode
		want bool
	}{
		{0x01200000, true},
		{0x012FFFFF, true},
		{0x01600001, true},
		{0x01300000, false}, // the internal bit
		{sdk.FlushCheckpoints, false},
		{sdk.AddRegistryCheckpoint, false},
		{sdk.SetPrivateProperties, false},
		{0x02200000, false}, // a group code
		{0x01A00000, false}, // the global bit
	} {
		if got := c.code.IsTypeCode(); got != c.want {
			t.Errorf("%s.IsTypeCode() = %v, want %v", c.code, got, c.want)
		}
	}
}
