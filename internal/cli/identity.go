package cli

import (
	"fmt"
	"os"
	"os/user"
)

// operator names who runs this command, for the requests it files and the
// events they cause: the local user and the host.
func (e *env) operator() string {
	name := fmt.Sprintf("uid %d", os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if host, err := os.Hostname(); err == nil {
		name += "@" + host
	}
	return name
}
