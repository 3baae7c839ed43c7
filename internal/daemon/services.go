package daemon

import (
	"context"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/monitor"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/sdk"
)

// services are the host services of the node's resources, built from
// their owners: progress and the fencing token from the monitor's register
// of hosted resources, the registry and the checkpoint control codes from
// the checkpoint engine, logging from the node's logger. Every call answers
// without calling into a resource (plugins.Services).
type services struct {
	log         hclog.Logger
	hosted      *monitor.Hosted
	registry    *registry.Registry
	checkpoints *checkpoint.Manager
}

var _ plugins.Services = (*services)(nil)

func (s *services) Log(r model.Ref, level sdk.LogLevel, msg string, kv ...any) {
	l := s.log.Named("resource").With("resource", r.Name)
	kv = dropFixedKeys(kv)
	switch level {
	case sdk.LevelTrace:
		l.Trace(msg, kv...)
	case sdk.LevelDebug:
		l.Debug(msg, kv...)
	case sdk.LevelWarn:
		l.Warn(msg, kv...)
	case sdk.LevelError:
		l.Error(msg, kv...)
	default:
		l.Info(msg, kv...)
	}
}

func (s *services) Progress(ctx context.Context, r model.Ref, msg string) error {
	s.hosted.Progress(r)
	if msg != "" {
		s.log.Debug("progress", "resource", r.Name, "message", msg)
	}
	return nil
}

func (s *services) Registry() sdk.Registry { return s.registry }

func (s *services) Control(ctx context.Context, r model.Ref, code sdk.ControlCode, in, out []byte) (int, error) {
	return s.checkpoints.Control(ctx, r, code, in, out)
}

func (s *services) FencingToken(ctx context.Context, r model.Ref) (int64, error) {
	return s.hosted.FencingToken(r)
}

// dropFixedKeys removes the fields a resource's log line gets anyway (its
// node and its resource), so that each appears once per line.
func dropFixedKeys(kv []any) []any {
	out := kv[:0:0]
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok && (k == "node" || k == "resource") {
			continue
		}
		out = append(out, kv[i], kv[i+1])
	}
	if len(kv)%2 == 1 {
		out = append(out, kv[len(kv)-1])
	}
	return out
}
