package monitor

import "github.com/resmon/resmon/quorum"

// SetRecord lets tests change a resource's record as a database edit does.
func (r *Resource) SetRecord(rec quorum.Resource) { r.setRecord(rec) }
