package monitor

import "github.com/resmon/resmon/model"

// SetRecord lets tests change a resource's record as a database edit does.
func (r *Resource) SetRecord(rec model.Resource) { r.setRecord(rec) }
