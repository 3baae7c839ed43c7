package registry

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/resmon/resmon/sdk"
)

// checkValue applies sdk.Value.Validate and the registry's own rules to v,
// stored under key (named in errors), and returns v normalised: empty byte
// and string slices become nil so that equal data compares equal.
func checkValue(key string, v sdk.Value) (sdk.Value, error) {
	if err := checkValueName(key, v.Name); err != nil {
		return v, err
	}
	if err := v.Validate(); err != nil {
		return v, fmt.Errorf("%w: key %q: %v", ErrInvalidValue, key, err)
	}
	checkStr := func(s, what string) error {
		switch {
		case !utf8.ValidString(s):
			return fmt.Errorf("%w: key %q: %s value %q: %s is not valid UTF-8", ErrInvalidValue, key, v.Type, v.Name, what)
		case strings.ContainsRune(s, 0):
			return fmt.Errorf("%w: key %q: %s value %q: %s contains NUL", ErrInvalidValue, key, v.Type, v.Name, what)
		}
		return nil
	}
	size := 0
	switch v.Type {
	case sdk.String, sdk.ExpandString:
		if err := checkStr(v.Str, "the string"); err != nil {
			return v, err
		}
		size = len(v.Str)
	case sdk.MultiString:
		for i, s := range v.Strs {
			if s == "" {
				return v, fmt.Errorf("%w: key %q: REG_MULTI_SZ value %q: element %d is empty (an empty string ends a multi-string)", ErrInvalidValue, key, v.Name, i)
			}
			if err := checkStr(s, fmt.Sprintf("element %d", i)); err != nil {
				return v, err
			}
			size += len(s) + 1
		}
		if len(v.Strs) == 0 {
			v.Strs = nil
		}
	case sdk.DWord:
		size = 4
	case sdk.QWord:
		size = 8
	case sdk.Binary, sdk.None:
		size = len(v.Bytes)
		if len(v.Bytes) == 0 {
			v.Bytes = nil
		}
	}
	if size > MaxValueSize {
		return v, fmt.Errorf("%w: key %q: value %q holds %d bytes, the limit is %d", ErrInvalidValue, key, v.Name, size, MaxValueSize)
	}
	return v, nil
}

// Stored value encoding (the bbolt value of "\x01"+Fold(name)):
//
//	byte     format (1)
//	uvarint  type
//	uvarint  len(name), name
//	data     strings: UTF-8; multi-strings: uvarint count, then uvarint len + bytes each;
//	         dword and qword: 8 bytes little-endian; binary and none: the bytes
const valueFormat = 1

func encodeValue(v sdk.Value) []byte {
	n := 1 + 2*binary.MaxVarintLen64 + len(v.Name) + len(v.Str) + len(v.Bytes) + 8
	for _, s := range v.Strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, valueFormat)
	b = binary.AppendUvarint(b, uint64(v.Type))
	b = binary.AppendUvarint(b, uint64(len(v.Name)))
	b = append(b, v.Name...)
	switch v.Type {
	case sdk.String, sdk.ExpandString:
		b = append(b, v.Str...)
	case sdk.MultiString:
		b = binary.AppendUvarint(b, uint64(len(v.Strs)))
		for _, s := range v.Strs {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	case sdk.DWord, sdk.QWord:
		b = binary.LittleEndian.AppendUint64(b, v.Num)
	default:
		b = append(b, v.Bytes...)
	}
	return b
}

func decodeValue(b []byte) (sdk.Value, error) {
	bad := func(what string) (sdk.Value, error) {
		return sdk.Value{}, fmt.Errorf("checkpoint: registry file holds a damaged value (%s)", what)
	}
	if len(b) == 0 || b[0] != valueFormat {
		return bad("unknown format")
	}
	b = b[1:]
	typ, n := binary.Uvarint(b)
	if n <= 0 {
		return bad("type")
	}
	b = b[n:]
	nl, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < nl {
		return bad("name")
	}
	v := sdk.Value{Type: sdk.ValueType(typ), Name: string(b[n : n+int(nl)])}
	b = b[n+int(nl):]
	switch v.Type {
	case sdk.String, sdk.ExpandString:
		v.Str = string(b)
	case sdk.MultiString:
		cnt, n := binary.Uvarint(b)
		if n <= 0 || cnt > uint64(len(b)) {
			return bad("multi-string count")
		}
		b = b[n:]
		for i := uint64(0); i < cnt; i++ {
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return bad("multi-string element")
			}
			v.Strs = append(v.Strs, string(b[n:n+int(l)]))
			b = b[n+int(l):]
		}
	case sdk.DWord, sdk.QWord:
		if len(b) != 8 {
			return bad("number")
		}
		v.Num = binary.LittleEndian.Uint64(b)
	case sdk.Binary, sdk.None:
		if len(b) > 0 {
			v.Bytes = append([]byte(nil), b...)
		}
	default:
		return bad(fmt.Sprintf("type %d", typ))
	}
	return v, nil
}

// appendValueJSON appends the JSON form (see Key.AppendJSON) of a stored
// value, reading the stored encoding in place.
func appendValueJSON(b, raw []byte) ([]byte, error) {
	bad := func(what string) ([]byte, error) {
		return nil, fmt.Errorf("checkpoint: registry file holds a damaged value (%s)", what)
	}
	if len(raw) == 0 || raw[0] != valueFormat {
		return bad("unknown format")
	}
	raw = raw[1:]
	typ, n := binary.Uvarint(raw)
	if n <= 0 {
		return bad("type")
	}
	raw = raw[n:]
	nl, n := binary.Uvarint(raw)
	if n <= 0 || uint64(len(raw)-n) < nl {
		return bad("name")
	}
	name, data := raw[n:n+int(nl)], raw[n+int(nl):]
	tn, ok := typeNames[sdk.ValueType(typ)]
	if !ok {
		return bad(fmt.Sprintf("type %d", typ))
	}
	b = append(b, `{"name":`...)
	b = appendJSONString(b, name)
	b = append(b, `,"type":"`...)
	b = append(b, tn...)
	b = append(b, `","data":`...)
	switch sdk.ValueType(typ) {
	case sdk.String, sdk.ExpandString:
		b = appendJSONString(b, data)
	case sdk.MultiString:
		cnt, n := binary.Uvarint(data)
		if n <= 0 || cnt > uint64(len(data)) {
			return bad("multi-string count")
		}
		data = data[n:]
		b = append(b, '[')
		for i := uint64(0); i < cnt; i++ {
			l, n := binary.Uvarint(data)
			if n <= 0 || uint64(len(data)-n) < l {
				return bad("multi-string element")
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, data[n:n+int(l)])
			data = data[n+int(l):]
		}
		b = append(b, ']')
	case sdk.DWord, sdk.QWord:
		if len(data) != 8 {
			return bad("number")
		}
		b = strconv.AppendUint(b, binary.LittleEndian.Uint64(data), 10)
	default:
		b = append(b, '"')
		b = hex.AppendEncode(b, data)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}
