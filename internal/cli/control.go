package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

// controlFlags are the flags of `cluster resource control`.
type controlFlags struct {
	in   string
	wait time.Duration
}

// cmdResourceControl is `cluster resource control NAME CODE [--in HEX|JSON]
// [--wait D]`: the group's owner sends the control code to the resource and
// its output comes back in the typed reply. Output that is UTF-8 text is
// printed as it is (escaped like everything the CLI prints), anything else
// as hex; -o json prints the reply, the output base64-encoded in "out".
func cmdResourceControl(ctx context.Context, e *env, name, arg string, cf controlFlags) error {
	code, err := parseControlCode(arg)
	if err != nil {
		return usagef("resource %q control: %v", name, err)
	}
	input, err := parseControlInput(cf.in)
	if err != nil {
		return usagef("resource %q control: --in: %v", name, err)
	}
	if cf.wait <= 0 {
		return usagef("resource control: --wait must be greater than 0")
	}
	wait := cf.wait
	r, err := e.store.ResourceByName(ctx, name)
	if err != nil {
		return err
	}
	req := model.Request{Group: r.Value.Group, Resource: r.Value.ID, Action: model.RequestControl, Code: uint32(code), In: input, Operator: e.operator()}
	if err := req.Validate(); err != nil {
		return usagef("resource %q control: %v", name, err)
	}
	req, err = e.store.File(ctx, req)
	if err != nil {
		return err
	}
	wctx, cancel := waitContext(wait)
	defer cancel()
	rep, err := e.store.AwaitReply(wctx, req)
	if err != nil {
		return e.waitError(wctx, err, req, false, fmt.Sprintf("resource '%s' (control %s)", r.Value.Name, code), wait, "no answer")
	}
	if err := rep.Err(); err != nil {
		return fmt.Errorf("resource '%s': control %s %s: %s", r.Value.Name, code, rep.Code, rep.Message)
	}
	return e.emit(rep, func(*tabwriter.Writer) {
		switch {
		case len(rep.Out) == 0:
		case utf8.Valid(rep.Out):
			printf(e.out, "%s", escapeMessage(strings.TrimSuffix(string(rep.Out), "\n")))
			io.WriteString(e.out, "\n")
		default:
			printf(e.out, "%s", hex.Dump(rep.Out))
		}
	})
}

// parseControlCode reads a control code: 0x01200004 or a decimal number.
func parseControlCode(s string) (sdk.ControlCode, error) {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("control code %q is not a 32-bit number (such as 0x01200004)", s)
	}
	return sdk.ControlCode(n), nil
}

// parseControlInput reads -in: a JSON value is sent as written; anything
// else must be hex digits (spaces and colons between bytes allowed).
func parseControlInput(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, nil
	}
	switch t[0] {
	case '{', '[', '"':
		if !json.Valid([]byte(t)) {
			return nil, fmt.Errorf("%q starts like JSON but is not valid JSON", truncate(t, 40))
		}
		return []byte(t), nil
	}
	h := strings.NewReplacer(" ", "", ":", "").Replace(t)
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(h, "0x"), "0X"))
	if err != nil {
		return nil, fmt.Errorf("%q is neither JSON nor hex digits", truncate(t, 40))
	}
	return b, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
