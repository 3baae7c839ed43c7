package sdktest_test

import (
	"testing"

	"github.com/resmon/resmon/sdk/sdktest"
	"github.com/resmon/resmon/testutil/testtype"
)

func TestConformanceDirect(t *testing.T) {
	sdktest.Run(t, sdktest.Direct(testtype.Type{}), sdktest.Options{
		Properties: map[string]any{"CheckpointKey": `SOFTWARE\Conformance`, "RegistryKey": `SOFTWARE\Conformance`},
	})
}
