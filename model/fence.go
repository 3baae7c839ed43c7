package model

import (
	"fmt"

	"github.com/resmon/resmon/sdk"
)

// Fence identifies one ownership of a group. Owner-only writes carry it and
// succeed only while that ownership is current.
type Fence struct {
	Group string
	Token int64 // the owner key's CreateRevision
}

func (f Fence) String() string { return fmt.Sprintf("group %q token %d", f.Group, f.Token) }

// ErrFenced reports an owner-only write or call refused because the fence it
// carries is no longer the group's current ownership: another tenure (on
// this node or another) owns the group now. It is the same error value
// resource types see as sdk.ErrFenced.
var ErrFenced = sdk.ErrFenced
