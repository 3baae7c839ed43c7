package config_test

import (
	"errors"
	"fmt"

	"github.com/resmon/resmon/internal/config"
)

func ExampleParse() {
	const file = `
[node]
name = "node1"

[[resource_type]]
name = "Generic Application"
kind = "plugin"
path = "/usr/libexec/resmon/genapp"

[[group]]
name = "data"
preferred_owners = ["node1", "node2"]

[[resource]]
name = "Web"
type = "Generic Application"
group = "data"
restart_threshold = 5
[resource.private]
CommandLine = "/usr/bin/httpd -f"
`
	c, err := config.Parse("cluster.toml", []byte(file))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, groups, resources := c.Records()
	r := resources[0]
	fmt.Println(c.Node.DataDir, c.Node.Admin)
	fmt.Println(groups[0].Name, groups[0].PreferredOwners, groups[0].FailoverPeriod)
	fmt.Println(r.Name, r.Properties.RestartThreshold, r.Properties.PendingTimeout, r.Private["CommandLine"])

	// Every problem is reported at once, each with the file and the entry.
	_, err = config.Parse("cluster.toml", []byte(file+`
[[resource]]
name = "Web"
type = "Generic App"
group = "data"
restart_action = 3
`))
	fmt.Println(errors.Is(err, config.ErrInvalid))
	fmt.Println(err)
	// Output:
	// data/node1 unix:data/node1/admin.sock
	// data [node1 node2] 6h0m0s
	// Web 5 3m0s /usr/bin/httpd -f
	// true
	// cluster.toml: resource "Web": name: "Web" is also the name of resource #1; resource names are case-insensitive
	// cluster.toml: resource "Web": type: unknown resource type "Generic App"
	// cluster.toml: resource "Web": restart_action: must be 0 (no restart), 1 (restart only) or 2 (restart, then fail the group over), got 3
}
