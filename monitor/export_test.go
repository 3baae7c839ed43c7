package monitor

import "github.com/resmon/resmon/model"

func (r *Resource) SetRecord(rec model.Resource) { r.setRecord(rec) }
