package hello_test

import (
	"os"
	"strings"
	"testing"
)

// sdk/README.md shows hello_test.go as the file to copy: the two stay the
// same.
func TestSDKReadmeQuotesThisTestFile(t *testing.T) {
	doc, err := os.ReadFile("../../sdk/README.md")
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile("hello_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```go\n"+string(file)+"```\n") {
		t.Fatal("sdk/README.md does not quote examples/hello/hello_test.go as it is; copy the file into its ```go block")
	}
}
