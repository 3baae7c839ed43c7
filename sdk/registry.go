package sdk

import (
	"context"
	"fmt"
)

// Registry is the node-local registry: keys are backslash paths relative to
// the machine root ("SOFTWARE\Onyone"), case-insensitive and case-preserving;
// values are typed. A resource usually keeps its settings under a key that is
// checkpointed, so the settings follow it to whichever node runs it.
type Registry interface {
	// GetValue reads one value; ErrNotFound if the key or value is missing.
	GetValue(ctx context.Context, key, name string) (Value, error)
	// SetValue creates or replaces a value, creating missing keys on the path.
	SetValue(ctx context.Context, key, name string, v Value) error
	// DeleteValue removes a value; ErrNotFound if it is missing.
	DeleteValue(ctx context.Context, key, name string) error
	// CreateKey creates a key and any missing parents.
	CreateKey(ctx context.Context, key string) error
	// DeleteKey removes a key with everything below it; ErrNotFound if missing.
	DeleteKey(ctx context.Context, key string) error
	// SubKeys lists the names of a key's direct subkeys, sorted case-insensitively.
	SubKeys(ctx context.Context, key string) ([]string, error)
	// Values lists a key's values, sorted case-insensitively by name.
	Values(ctx context.Context, key string) ([]Value, error)
}

// ValueType is the type of a registry value, with the Windows numbers.
type ValueType uint32

// Value types.
const (
	None         ValueType = 0  // REG_NONE: raw bytes, no meaning
	String       ValueType = 1  // REG_SZ
	ExpandString ValueType = 2  // REG_EXPAND_SZ: a string with %VARIABLE% references
	Binary       ValueType = 3  // REG_BINARY
	DWord        ValueType = 4  // REG_DWORD: 32-bit
	MultiString  ValueType = 7  // REG_MULTI_SZ
	QWord        ValueType = 11 // REG_QWORD: 64-bit
)

func (t ValueType) String() string {
	switch t {
	case None:
		return "REG_NONE"
	case String:
		return "REG_SZ"
	case ExpandString:
		return "REG_EXPAND_SZ"
	case Binary:
		return "REG_BINARY"
	case DWord:
		return "REG_DWORD"
	case MultiString:
		return "REG_MULTI_SZ"
	case QWord:
		return "REG_QWORD"
	}
	return fmt.Sprintf("REG_TYPE(%d)", uint32(t))
}

// Value is one typed registry value. Exactly the field that matches Type is
// meaningful: Str for String and ExpandString, Strs for MultiString, Num for
// DWord (≤ 0xFFFFFFFF) and QWord, Bytes for Binary and None.
type Value struct {
	Name  string    `json:"name"`
	Type  ValueType `json:"type"`
	Str   string    `json:"str,omitempty"`
	Strs  []string  `json:"strs,omitempty"`
	Num   uint64    `json:"num,omitempty"`
	Bytes []byte    `json:"bytes,omitempty"`
}

// StringValue returns a REG_SZ value.
func StringValue(name, s string) Value { return Value{Name: name, Type: String, Str: s} }

// DWordValue returns a REG_DWORD value.
func DWordValue(name string, n uint32) Value { return Value{Name: name, Type: DWord, Num: uint64(n)} }

// QWordValue returns a REG_QWORD value.
func QWordValue(name string, n uint64) Value { return Value{Name: name, Type: QWord, Num: n} }

// MultiStringValue returns a REG_MULTI_SZ value.
func MultiStringValue(name string, s ...string) Value {
	return Value{Name: name, Type: MultiString, Strs: s}
}

// BinaryValue returns a REG_BINARY value.
func BinaryValue(name string, b []byte) Value { return Value{Name: name, Type: Binary, Bytes: b} }

// Validate checks that v's fields agree with its type.
func (v Value) Validate() error {
	switch v.Type {
	case String, ExpandString:
		if v.Strs != nil || v.Num != 0 || v.Bytes != nil {
			return fmt.Errorf("%w: %s value %q carries non-string data", ErrInvalidParameter, v.Type, v.Name)
		}
	case MultiString:
		if v.Str != "" || v.Num != 0 || v.Bytes != nil {
			return fmt.Errorf("%w: %s value %q carries non-string data", ErrInvalidParameter, v.Type, v.Name)
		}
	case DWord, QWord:
		if v.Str != "" || v.Strs != nil || v.Bytes != nil {
			return fmt.Errorf("%w: %s value %q carries non-numeric data", ErrInvalidParameter, v.Type, v.Name)
		}
		if v.Type == DWord && v.Num > 0xFFFFFFFF {
			return fmt.Errorf("%w: REG_DWORD value %q: %d does not fit 32 bits", ErrInvalidParameter, v.Name, v.Num)
		}
	case Binary, None:
		if v.Str != "" || v.Strs != nil || v.Num != 0 {
			return fmt.Errorf("%w: %s value %q carries non-binary data", ErrInvalidParameter, v.Type, v.Name)
		}
	default:
		return fmt.Errorf("%w: value %q has unknown type %d", ErrInvalidParameter, v.Name, uint32(v.Type))
	}
	return nil
}
