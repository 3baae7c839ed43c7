package registry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/resmon/resmon/sdk"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The .reg format ("Windows Registry Editor Version 5.00"), as regedit writes
// and reads it:
//
//	Windows Registry Editor Version 5.00
//
//	[HKEY_LOCAL_MACHINE\SOFTWARE\Onyone]
//	@="default value"
//	"Name"="a \"quoted\" C:\\path"
//	"Port"=dword:00001b58
//	"Size"=hex(b):00,10,00,00,00,00,00,00
//	"Path"=hex(2):25,00,54,00,45,00,4d,00,50,00,25,00,00,00
//	"List"=hex(7):61,00,00,00,62,00,00,00,00,00
//	"Blob"=hex:de,ad,be,ef
//	"Gone"=-
//
//	[-HKEY_LOCAL_MACHINE\SOFTWARE\Old]
//
// Strings inside hex(1), hex(2) and hex(7) are UTF-16LE with their NULs;
// long hex data continues on the next line after ",\" and two spaces. A
// "[-key]" line deletes the key and "=-" deletes a value. Only
// HKEY_LOCAL_MACHINE (or HKLM) exists here: the registry is the machine's.
// Files are read as UTF-16 with a byte order mark (what regedit writes) or as
// UTF-8, with CRLF or LF line ends; Export writes UTF-16LE with CRLF, like
// regedit, and WriteReg can also write UTF-8.

// RegHeader is the first line of a .reg file.
const RegHeader = "Windows Registry Editor Version 5.00"

// ErrBadRegFile reports a .reg file that cannot be read; the message names
// the file and the line.
var ErrBadRegFile = fmt.Errorf("checkpoint: invalid .reg file: %w", sdk.ErrInvalidParameter)

// RegKey is one "[key]" section of a .reg file.
type RegKey struct {
	Line   int    // 1-based line of the section header (0 when not parsed from a file)
	Path   string // canonical path below HKEY_LOCAL_MACHINE
	Delete bool   // "[-key]": delete the key and everything below it
	Values []RegValue
}

// RegValue is one value line of a section.
type RegValue struct {
	Line   int
	Value  sdk.Value // Name and, unless Delete, the typed data
	Delete bool      // "name"=-
}

type regError struct {
	file string
	line int
	msg  string
}

func (e *regError) Error() string {
	return fmt.Sprintf("%s: %s:%d: %s", ErrBadRegFile, e.file, e.line, e.msg)
}

func (e *regError) Unwrap() error { return ErrBadRegFile }

// ParseReg reads the .reg text in data; name is used in error messages. It
// checks every key path and value against the registry's rules, so what it
// returns can be imported as it is.
func ParseReg(name string, data []byte) ([]RegKey, error) {
	text, err := decodeRegText(data)
	if err != nil {
		return nil, &regError{name, 1, err.Error()}
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	p := regParser{file: name, lines: lines}
	return p.parse()
}

// decodeRegText turns the file's bytes into a string by its byte order mark.
func decodeRegText(b []byte) (string, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}), bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		b16 := b[2:]
		if len(b16)%2 != 0 {
			return "", fmt.Errorf("UTF-16 text with an odd number of bytes")
		}
		var order binary.ByteOrder = binary.LittleEndian
		if b[0] == 0xFE {
			order = binary.BigEndian
		}
		u := make([]uint16, len(b16)/2)
		for i := range u {
			u[i] = order.Uint16(b16[2*i:])
		}
		return string(utf16.Decode(u)), nil
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("the file is neither UTF-16 with a byte order mark nor UTF-8")
	}
	return string(b), nil
}

type regParser struct {
	file  string
	lines []string
	i     int // index of the next line
}

func (p *regParser) errf(line int, format string, args ...any) error {
	return &regError{p.file, line, fmt.Sprintf(format, args...)}
}

func (p *regParser) parse() ([]RegKey, error) {
	// Header: the first non-blank line.
	for p.i < len(p.lines) && strings.TrimSpace(p.lines[p.i]) == "" {
		p.i++
	}
	if p.i == len(p.lines) {
		return nil, p.errf(1, "empty file; the first line must be %q", RegHeader)
	}
	switch h := strings.TrimSpace(p.lines[p.i]); h {
	case RegHeader:
	case "REGEDIT4":
		return nil, p.errf(p.i+1, "REGEDIT4 files (ANSI text) are not supported; export as %q", RegHeader)
	default:
		return nil, p.errf(p.i+1, "the first line is %.60q, want %q", h, RegHeader)
	}
	p.i++
	var out []RegKey
	var cur *RegKey
	for p.i < len(p.lines) {
		lineNo := p.i + 1
		line := strings.TrimSpace(p.lines[p.i])
		p.i++
		switch {
		case line == "", strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "["):
			k, err := p.keyLine(lineNo, line)
			if err != nil {
				return nil, err
			}
			out = append(out, k)
			cur = &out[len(out)-1]
		default:
			if cur == nil {
				return nil, p.errf(lineNo, "value line before any [key] line")
			}
			if cur.Delete {
				return nil, p.errf(lineNo, "value line in a section that deletes its key ([-%s])", cur.Path)
			}
			v, err := p.valueLine(lineNo, line, cur.Path)
			if err != nil {
				return nil, err
			}
			cur.Values = append(cur.Values, v)
		}
	}
	return out, nil
}

func (p *regParser) keyLine(lineNo int, line string) (RegKey, error) {
	end := strings.LastIndexByte(line, ']')
	if end < 0 {
		return RegKey{}, p.errf(lineNo, "key line %.60q has no closing ']'", line)
	}
	if rest := strings.TrimSpace(line[end+1:]); rest != "" && !strings.HasPrefix(rest, ";") {
		return RegKey{}, p.errf(lineNo, "unexpected %.40q after the key", rest)
	}
	inner := line[1:end]
	k := RegKey{Line: lineNo}
	if strings.HasPrefix(inner, "-") {
		k.Delete, inner = true, inner[1:]
	}
	hive, rest, _ := strings.Cut(inner, `\`)
	if h := Fold(hive); h != "hkey_local_machine" && h != "hklm" {
		return RegKey{}, p.errf(lineNo, "key %.60q is not under HKEY_LOCAL_MACHINE (the only hive of the node registry)", inner)
	}
	var parts []string
	if rest != "" {
		var err error
		if parts, err = splitComponents(inner, rest); err != nil {
			return RegKey{}, p.errf(lineNo, "%v", err)
		}
		if isHive(parts[0]) {
			return RegKey{}, p.errf(lineNo, "a key named %q directly below HKEY_LOCAL_MACHINE is not supported", parts[0])
		}
		if len(parts) > MaxDepth {
			return RegKey{}, p.errf(lineNo, "key %.40q… is %d keys deep, the limit is %d", inner, len(parts), MaxDepth)
		}
	}
	path := strings.Join(parts, `\`)
	if k.Delete && path == "" {
		return RegKey{}, p.errf(lineNo, "the root key cannot be deleted")
	}
	k.Path = path
	return k, nil
}

func (p *regParser) valueLine(lineNo int, line, key string) (RegValue, error) {
	var name, rest string
	switch {
	case strings.HasPrefix(line, "@"):
		rest = line[1:]
	case strings.HasPrefix(line, `"`):
		s, n, err := unquote(line)
		if err != nil {
			return RegValue{}, p.errf(lineNo, "value name: %v", err)
		}
		name, rest = s, line[n:]
	default:
		return RegValue{}, p.errf(lineNo, "expected a [key], a \"value\"= or @= line, got %.40q", line)
	}
	rest = strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(rest, "=") {
		return RegValue{}, p.errf(lineNo, "value %q: expected '=' after the name", name)
	}
	data := strings.TrimSpace(rest[1:])
	rv := RegValue{Line: lineNo, Value: sdk.Value{Name: name}}
	lower := strings.ToLower(data)
	switch {
	case data == "-":
		rv.Delete = true
		if err := checkValueName(key, name); err != nil {
			return RegValue{}, p.errf(lineNo, "%v", err)
		}
		return rv, nil
	case strings.HasPrefix(data, `"`):
		s, n, err := unquote(data)
		if err != nil {
			return RegValue{}, p.errf(lineNo, "value %q: %v", name, err)
		}
		if tail := strings.TrimSpace(data[n:]); tail != "" && !strings.HasPrefix(tail, ";") {
			return RegValue{}, p.errf(lineNo, "value %q: unexpected %.40q after the string", name, tail)
		}
		rv.Value.Type, rv.Value.Str = sdk.String, s
	case strings.HasPrefix(lower, "dword:"):
		digits := strings.TrimSpace(data[len("dword:"):])
		if len(digits) < 1 || len(digits) > 8 {
			return RegValue{}, p.errf(lineNo, "value %q: dword needs 1 to 8 hex digits, got %q", name, digits)
		}
		n, err := strconv.ParseUint(digits, 16, 32)
		if err != nil {
			return RegValue{}, p.errf(lineNo, "value %q: dword %q is not hexadecimal", name, digits)
		}
		rv.Value.Type, rv.Value.Num = sdk.DWord, n
	case strings.HasPrefix(lower, "hex"):
		v, err := p.hexValue(lineNo, name, data)
		if err != nil {
			return RegValue{}, err
		}
		rv.Value = v
	default:
		return RegValue{}, p.errf(lineNo, "value %q: data %.40q is neither \"string\", dword:, hex: nor -", name, data)
	}
	v, err := checkValue(key, rv.Value)
	if err != nil {
		return RegValue{}, p.errf(lineNo, "%v", err)
	}
	rv.Value = v
	return rv, nil
}

// unquote reads a quoted string at the start of s (regedit escapes only \\
// and \"; any other backslash is kept as it is) and returns it with the
// number of bytes consumed.
func unquote(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '"') {
				b.WriteByte(s[i+1])
				i++
			} else {
				b.WriteByte(c)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("missing closing quote")
}

// hexValue parses hex:… and hex(N):…, following ",\" continuations.
func (p *regParser) hexValue(lineNo int, name, data string) (sdk.Value, error) {
	colon := strings.IndexByte(data, ':')
	if colon < 0 {
		return sdk.Value{}, p.errf(lineNo, "value %q: %q has no ':'", name, data)
	}
	kind := strings.ToLower(data[:colon])
	typ := sdk.Binary
	if kind != "hex" {
		if !strings.HasPrefix(kind, "hex(") || !strings.HasSuffix(kind, ")") {
			return sdk.Value{}, p.errf(lineNo, "value %q: unknown data kind %q", name, data[:colon])
		}
		n, err := strconv.ParseUint(kind[4:len(kind)-1], 16, 32)
		if err != nil {
			return sdk.Value{}, p.errf(lineNo, "value %q: %q: the type in hex(…) is not hexadecimal", name, data[:colon])
		}
		typ = sdk.ValueType(n)
	}
	body := data[colon+1:]
	for strings.HasSuffix(strings.TrimSpace(body), `\`) {
		body = strings.TrimSuffix(strings.TrimSpace(body), `\`)
		if p.i >= len(p.lines) {
			return sdk.Value{}, p.errf(lineNo, "value %q: the file ends inside continued hex data", name)
		}
		body += strings.TrimSpace(p.lines[p.i])
		p.i++
	}
	var raw []byte
	if body = strings.TrimSpace(body); body != "" {
		for i, f := range strings.Split(strings.TrimSuffix(body, ","), ",") {
			f = strings.TrimSpace(f)
			if len(f) != 2 {
				return sdk.Value{}, p.errf(lineNo, "value %q: byte %d of the hex data is %q, want two hex digits", name, i, f)
			}
			c, err := hex.DecodeString(f)
			if err != nil {
				return sdk.Value{}, p.errf(lineNo, "value %q: byte %d of the hex data is %q, want two hex digits", name, i, f)
			}
			raw = append(raw, c[0])
		}
	}
	v := sdk.Value{Name: name}
	var err error
	switch typ {
	case sdk.None, sdk.Binary:
		v.Type, v.Bytes = typ, raw
	case sdk.String, sdk.ExpandString:
		v.Type = typ
		v.Str, err = utf16String(raw)
	case sdk.MultiString:
		v.Type = typ
		v.Strs, err = utf16Multi(raw)
	case sdk.DWord:
		if len(raw) != 4 {
			err = fmt.Errorf("hex(4) needs 4 bytes, got %d", len(raw))
		}
		v.Type = typ
		if err == nil {
			v.Num = uint64(binary.LittleEndian.Uint32(raw))
		}
	case sdk.QWord:
		if len(raw) != 8 {
			err = fmt.Errorf("hex(b) needs 8 bytes, got %d", len(raw))
		}
		v.Type = typ
		if err == nil {
			v.Num = binary.LittleEndian.Uint64(raw)
		}
	default:
		err = fmt.Errorf("type hex(%x) (%s) is not supported", uint32(typ), typ)
	}
	if err != nil {
		return sdk.Value{}, p.errf(lineNo, "value %q: %v", name, err)
	}
	return v, nil
}

func utf16Units(raw []byte) ([]uint16, error) {
	if len(raw)%2 != 0 {
		return nil, fmt.Errorf("UTF-16 data has an odd number of bytes (%d)", len(raw))
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return u, nil
}

func utf16Text(u []uint16) (string, error) {
	for i := 0; i < len(u); i++ {
		switch {
		case utf16.IsSurrogate(rune(u[i])) && u[i] < 0xDC00 && i+1 < len(u) && u[i+1] >= 0xDC00 && u[i+1] < 0xE000:
			i++
		case utf16.IsSurrogate(rune(u[i])):
			return "", fmt.Errorf("UTF-16 data has an unpaired surrogate")
		}
	}
	return string(utf16.Decode(u)), nil
}

// utf16String decodes a NUL-terminated UTF-16LE string; the terminator is
// optional and only NULs may follow it.
func utf16String(raw []byte) (string, error) {
	u, err := utf16Units(raw)
	if err != nil {
		return "", err
	}
	end := len(u)
	for i, c := range u {
		if c == 0 {
			end = i
			break
		}
	}
	for _, c := range u[end:] {
		if c != 0 {
			return "", fmt.Errorf("string data continues after its NUL terminator")
		}
	}
	return utf16Text(u[:end])
}

// utf16Multi decodes REG_MULTI_SZ data: NUL-terminated strings ended by an
// empty one; only NULs may follow the end.
func utf16Multi(raw []byte) ([]string, error) {
	u, err := utf16Units(raw)
	if err != nil {
		return nil, err
	}
	var out []string
	start := 0
	for i := 0; i <= len(u); i++ {
		if i < len(u) && u[i] != 0 {
			continue
		}
		if i == start { // empty element: the end
			for _, c := range u[i:] {
				if c != 0 {
					return nil, fmt.Errorf("multi-string data continues after its terminating empty string")
				}
			}
			return out, nil
		}
		s, err := utf16Text(u[start:i])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		start = i + 1
	}
	return out, nil
}

func utf16Bytes(s string, nul bool) []byte {
	u := utf16.Encode([]rune(s))
	if nul {
		u = append(u, 0)
	}
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// RegEncoding selects the text encoding WriteReg uses.
type RegEncoding int

// Encodings for WriteReg.
const (
	UTF16 RegEncoding = iota // UTF-16LE with a byte order mark and CRLF, as regedit writes
	UTF8                     // UTF-8 without a byte order mark, LF line ends
)

// WriteReg writes keys as a .reg file.
func WriteReg(w io.Writer, keys []RegKey, enc RegEncoding) error {
	var sb strings.Builder
	sb.WriteString(RegHeader + "\n\n")
	for _, k := range keys {
		sb.WriteString("[")
		if k.Delete {
			sb.WriteString("-")
		}
		sb.WriteString("HKEY_LOCAL_MACHINE")
		if k.Path != "" {
			sb.WriteString(`\` + k.Path)
		}
		sb.WriteString("]\n")
		for _, v := range k.Values {
			writeRegValue(&sb, v)
		}
		sb.WriteString("\n")
	}
	text := sb.String()
	if enc == UTF8 {
		_, err := io.WriteString(w, text)
		return err
	}
	bw := bufio.NewWriter(w)
	bw.Write([]byte{0xFF, 0xFE})
	bw.Write(utf16Bytes(strings.ReplaceAll(text, "\n", "\r\n"), false))
	return bw.Flush()
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

func writeRegValue(sb *strings.Builder, rv RegValue) {
	prefix := "@="
	if rv.Value.Name != "" {
		prefix = quote(rv.Value.Name) + "="
	}
	v := rv.Value
	switch {
	case rv.Delete:
		sb.WriteString(prefix + "-\n")
	case v.Type == sdk.String && !hasControl(v.Str):
		sb.WriteString(prefix + quote(v.Str) + "\n")
	case v.Type == sdk.String:
		writeHex(sb, prefix+"hex(1):", utf16Bytes(v.Str, true))
	case v.Type == sdk.DWord:
		fmt.Fprintf(sb, "%sdword:%08x\n", prefix, v.Num)
	case v.Type == sdk.QWord:
		writeHex(sb, prefix+"hex(b):", binary.LittleEndian.AppendUint64(nil, v.Num))
	case v.Type == sdk.ExpandString:
		writeHex(sb, prefix+"hex(2):", utf16Bytes(v.Str, true))
	case v.Type == sdk.MultiString:
		var b []byte
		for _, s := range v.Strs {
			b = append(b, utf16Bytes(s, true)...)
		}
		writeHex(sb, prefix+"hex(7):", append(b, 0, 0))
	case v.Type == sdk.Binary:
		writeHex(sb, prefix+"hex:", v.Bytes)
	default:
		writeHex(sb, prefix+fmt.Sprintf("hex(%x):", uint32(v.Type)), v.Bytes)
	}
}

// writeHex writes comma-separated bytes, wrapping like regedit: no line
// longer than 80 characters, continued with ",\" and two spaces.
func writeHex(sb *strings.Builder, prefix string, b []byte) {
	sb.WriteString(prefix)
	col := len(prefix)
	for i, c := range b {
		item := hex.EncodeToString([]byte{c})
		if i < len(b)-1 {
			item += ","
		}
		if col+len(item) > 77 && i > 0 {
			sb.WriteString("\\\n  ")
			col = 2
		}
		sb.WriteString(item)
		col += len(item)
	}
	sb.WriteString("\n")
}

// Import applies a .reg file in one transaction: every section creates its
// key (or deletes it, for "[-key]"), then sets or deletes its values. The
// whole file is parsed and checked first, so a bad line changes nothing.
// Deleting a missing key or value is not an error, as in regedit.
func (r *Registry) Import(ctx context.Context, name string, rd io.Reader) error {
	data, err := io.ReadAll(rd)
	if err != nil {
		return fmt.Errorf("checkpoint: reading %s: %w", name, err)
	}
	keys, err := ParseReg(name, data)
	if err != nil {
		return err
	}
	return r.update(ctx, func(tx *bolt.Tx) ([]string, error) {
		var changed []string
		for _, k := range keys {
			parts, _ := splitPath(k.Path) // checked by ParseReg
			changed = append(changed, foldedPath(parts))
			if k.Delete {
				parent := lookup(tx, parts[:len(parts)-1])
				if parent == nil {
					continue
				}
				if err := parent.DeleteBucket(subKeyTag(parts[len(parts)-1])); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
					return nil, err
				}
				continue
			}
			b, err := create(tx, parts)
			if err != nil {
				return nil, err
			}
			for _, v := range k.Values {
				if v.Delete {
					err = b.Delete(valueTag(v.Value.Name))
				} else {
					err = b.Put(valueTag(v.Value.Name), encodeValue(v.Value))
				}
				if err != nil {
					return nil, err
				}
			}
		}
		return changed, nil
	})
}

// Export writes key and everything below it as a .reg file (UTF-16LE, like
// regedit) from one consistent snapshot; sdk.ErrNotFound if the key is missing.
func (r *Registry) Export(ctx context.Context, w io.Writer, key string) error {
	path, err := ParsePath(key)
	if err != nil {
		return err
	}
	tree, _, err := r.Snapshot(ctx, path)
	if err != nil {
		return err
	}
	return WriteReg(w, TreeToReg(path, tree), UTF16)
}

// TreeToReg lists the sections that recreate tree at path, parents first.
func TreeToReg(path string, tree *Key) []RegKey {
	var out []RegKey
	var walk func(p string, k *Key)
	walk = func(p string, k *Key) {
		rk := RegKey{Path: p}
		for _, v := range k.Values {
			rk.Values = append(rk.Values, RegValue{Value: v})
		}
		out = append(out, rk)
		for _, s := range k.SubKeys {
			sp := s.Name
			if p != "" {
				sp = p + `\` + s.Name
			}
			walk(sp, s)
		}
	}
	if tree != nil {
		walk(path, tree)
	}
	return out
}
