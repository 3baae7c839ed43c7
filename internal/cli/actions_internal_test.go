package cli

import (
	"reflect"
	"testing"
)

func TestParseDependencies(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    [][]string
		wantErr bool
	}{
		{"", nil, false},
		{"Disk P:", [][]string{{"Disk P:"}}, false},
		{"IP A, IP B; Disk P:", [][]string{{"IP A", "IP B"}, {"Disk P:"}}, false},
		{"A;;B", nil, true},
		{"A,", nil, true},
	} {
		got, err := parseDependencies(c.in)
		if (err != nil) != c.wantErr || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %v, %v; want %v (error %v)", c.in, got, err, c.want, c.wantErr)
		}
	}
}
