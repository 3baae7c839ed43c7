package admin

import (
	"reflect"
	"testing"
)

// FuzzDecodeSetRequest feeds arbitrary bodies to the request decoder and the
// value conversion: no panic, and every value they accept survives the trip
// back to the wire form unchanged.
func FuzzDecodeSetRequest(f *testing.F) {
	for _, s := range []string{
		`{"key":"SOFTWARE\\Onyone","value":{"name":"Port","type":"dword","data":7000}}`,
		`{"key":"a","value":{"name":"","type":"multi_string","data":["x","y"]}}`,
		`{"key":"a","value":{"name":"b","type":"qword","data":"0xffffffffffffffff"}}`,
		`{"key":"a","value":{"name":"b","type":"binary","data":"dEaD"}}`,
		`{"key":"a","value":{"name":"b","type":"REG_EXPAND_SZ","data":"%X%"}}`,
		`{"key":"a","value":{"name":"b","type":"none","data":""}} x`,
		`{"key":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req setRequest
		if decode(body, &req) != nil {
			return
		}
		v, err := req.Value.SDK()
		if err != nil {
			return
		}
		back, err := FromSDK(v).SDK()
		if err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("%+v → %+v, %v", v, back, err)
		}
	})
}

// FuzzValueFromText checks the command-line value parser the same way.
func FuzzValueFromText(f *testing.F) {
	f.Add("dword", "0x1b58", "")
	f.Add("binary", "de,ad:be ef", "")
	f.Add("multi_string", "a", "b")
	f.Add("string", "", "")
	f.Add("qword", "18446744073709551616", "")
	f.Fuzz(func(t *testing.T, typ, a, b string) {
		for _, data := range [][]string{{a}, {a, b}} {
			v, err := ValueFromText("n", typ, data)
			if err != nil {
				continue
			}
			back, err := FromSDK(v).SDK()
			if err != nil || !reflect.DeepEqual(back, v) {
				t.Fatalf("%s %q: %+v → %+v, %v", typ, data, v, back, err)
			}
		}
	})
}
