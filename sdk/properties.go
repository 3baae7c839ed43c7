package sdk

// A resource type may describe the private properties its resources take,
// so that operators get mistakes refused before anything is written,
// in the type's own words. It is optional: implement Describer on the
// ResourceType (found by type assertion). The node that loads the type
// publishes the description; `cluster resource set` checks values against
// it.

// Property types.
const (
	PropString   = "string"
	PropInt      = "int"
	PropNumber   = "number"
	PropBool     = "bool"
	PropDuration = "duration" // a Go duration string such as "5s"
	PropList     = "list"     // an array
	PropTable    = "table"    // a table of named values
)

// PropertySpec describes one private property.
type PropertySpec struct {
	Name        string
	Type        string // one of the Prop* constants
	Required    bool
	Default     any // nil: none
	Description string
}

// Describer is implemented by resource types that describe their private
// properties.
type Describer interface {
	Properties() []PropertySpec
}
