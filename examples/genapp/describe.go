package genapp

import "github.com/resmon/resmon/sdk"

// Properties describes the private properties of a Generic Application
// (sdk.Describer): the node publishes this, and `cluster resource set`
// refuses unknown keys and values of the wrong type in these words.
func (Type) Properties() []sdk.PropertySpec {
	return []sdk.PropertySpec{
		{Name: PropCommandLine, Type: sdk.PropString, Required: true,
			Description: "the command line to run, split like a shell would (no expansion)"},
		{Name: PropCurrentDirectory, Type: sdk.PropString, Description: "the directory the command runs in"},
		{Name: PropEnvironment, Type: sdk.PropList + "|" + sdk.PropTable,
			Description: `variables added to the environment: ["NAME=value", ...] or {NAME = "value"}`},
		{Name: PropStopSignal, Type: sdk.PropString, Default: DefaultStopSignal,
			Description: "the signal Offline sends first: HUP, INT, QUIT, TERM, USR1, USR2 or KILL"},
		{Name: PropStopTimeout, Type: sdk.PropDuration + "|" + sdk.PropInt, Default: DefaultStopTimeout.String(),
			Description: "how long Offline waits after the stop signal before SIGKILL (a duration, or whole seconds)"},
		{Name: PropHealthCommand, Type: sdk.PropString, Description: "a command whose exit status 0 means alive"},
		{Name: PropHealthTCP, Type: sdk.PropString, Description: "host:port that must accept a connection"},
		{Name: PropHealthHTTP, Type: sdk.PropString, Description: "a URL that must answer 2xx or 3xx"},
	}
}
