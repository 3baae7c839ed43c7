package model_test

import (
	"testing"

	"github.com/resmon/resmon/model"
)

func TestDeriveGroupState(t *testing.T) {
	on, off, failed, pend := model.ResourceOnline, model.ResourceOffline, model.ResourceFailed, model.ResourceOnlinePending
	for _, c := range []struct {
		in   []model.ResourceState
		want model.GroupState
	}{
		{nil, model.GroupOffline},
		{[]model.ResourceState{on, on}, model.GroupOnline},
		{[]model.ResourceState{off, off}, model.GroupOffline},
		{[]model.ResourceState{on, off}, model.GroupPartialOnline},
		{[]model.ResourceState{on, failed}, model.GroupPartialOnline},
		{[]model.ResourceState{failed, off}, model.GroupFailed},
		{[]model.ResourceState{on, pend}, model.GroupPending},
		{[]model.ResourceState{model.ResourceOfflinePending, failed}, model.GroupPending},
	} {
		if got := model.DeriveGroupState(c.in); got != c.want {
			t.Errorf("%v → %v, want %v", c.in, got, c.want)
		}
	}
	// Numeric values are the Windows ones.
	if model.ResourceOnlinePending != 129 || model.ResourceFailed != 4 || model.GroupPartialOnline != 3 || model.ResourceUnknown != -1 {
		t.Fatal("state numbers drifted from the Windows values")
	}
}
