package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// Private properties: values are typed as the resource type describes them
// (model.PropertySpec, published by the node that loaded the type), and
// checked against that description before anything is written.

// parsePrivate reads a private property value from the command line: JSON
// for lists, tables and quoted strings; true, false and numbers as such;
// anything else as a string.
func parsePrivate(value string) (any, error) {
	v := strings.TrimSpace(value)
	if strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{") || strings.HasPrefix(v, `"`) {
		var out any
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return nil, fmt.Errorf("%q is not valid JSON: %v", value, err)
		}
		return out, nil
	}
	if value == "true" || value == "false" {
		return value == "true", nil
	}
	if n, err := strconv.ParseInt(value, 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(value, 64); err == nil {
		return f, nil
	}
	return value, nil
}

// checkPrivate checks r's private properties against what its type says
// of them. raw are the -private KEY=VALUE settings of this command: a
// property the type declares as a string (or duration) keeps the text as
// typed, even when it looks like a number. A type that describes nothing
// (or that no node has loaded yet) takes any value.
func (e *env) checkPrivate(ctx context.Context, r *model.Resource, raw []string) error {
	sc, err := e.store.TypeSchema(ctx, r.Type)
	if errors.Is(err, quorum.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, kv := range raw {
		k, v, _ := strings.Cut(kv, "=")
		for _, p := range sc.Properties {
			if strings.EqualFold(p.Name, k) && (p.Type == model.PropString || p.Type == model.PropDuration) && v != "" && !strings.HasPrefix(strings.TrimSpace(v), `"`) {
				r.Private[k] = v
			}
		}
	}
	if err := model.CheckPrivate(r.Type, sc.Properties, r.Private); err != nil {
		return fmt.Errorf("resource %q: %w; nothing changed", r.Name, err)
	}
	return nil
}
