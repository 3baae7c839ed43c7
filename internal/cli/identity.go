package cli

import (
	"fmt"
	"os"
	"os/user"
)

// operator names who runs this command, for the requests it files and the
// events they cause: the identity etcd admitted (the common name of the
// client certificate, or the etcd user name) once connected; without one
// (plaintext etcd), the local user and the host, as the user reports them.
func (e *env) operator() string {
	if e.identity != "" {
		return e.identity
	}
	name := fmt.Sprintf("uid %d", os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if host, err := os.Hostname(); err == nil {
		name += "@" + host
	}
	return name
}
