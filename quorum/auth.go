package quorum

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcd auth for a cluster's embedded members. With client-certificate
// authentication on, etcd names a client after its certificate's common
// name, so every node and operator certificate has a user of that name,
// created without a password: only the certificate can act as it. Roles
// cover the cluster's prefix only.

// The etcd roles of a cluster, and the etcd administrator.
const (
	EtcdRoleNode   = "resmon-node"   // read and write the cluster prefix
	EtcdRoleAdmin  = "resmon-admin"  // read and write the cluster prefix
	EtcdRoleViewer = "resmon-viewer" // read the cluster prefix
	EtcdRoot       = "root"          // etcd's own administrator; needed to turn auth on
)

// ErrAuth reports that etcd's users and roles could not be set up.
var ErrAuth = errors.New("quorum: etcd auth setup failed")

// AuthUser is an etcd user named after a certificate's common name, with
// the role the certificate carries: "node", "admin" or "viewer".
type AuthUser struct {
	Name string
	Role string
}

// AuthSpec is what auth must grant.
type AuthSpec struct {
	Prefix string // the keys the roles cover: the cluster's prefix, Keys.Prefix
	Users  []AuthUser
}

// etcdRole maps a certificate role to the etcd role.
func etcdRole(role string) (string, error) {
	switch role {
	case "node":
		return EtcdRoleNode, nil
	case "admin":
		return EtcdRoleAdmin, nil
	case "viewer":
		return EtcdRoleViewer, nil
	}
	return "", fmt.Errorf("%w: unknown role %q", ErrAuth, role)
}

// AuthEnabled reports whether etcd auth is on. Anyone may ask.
func AuthEnabled(ctx context.Context, cli *clientv3.Client) (bool, error) {
	st, err := cli.AuthStatus(ctx)
	if err != nil {
		return false, fmt.Errorf("%w: reading auth status: %w", ErrAuth, err)
	}
	return st.Enabled, nil
}

// EnableAuth turns etcd auth on where it is off: it creates the roles, the
// root user and spec's users, then enables auth. Before auth is on, etcd
// lets any client with a certificate of the CA do this; after, only root
// can. Every step tolerates its work being done already, and a member that
// finds auth turned on by another meanwhile stops there, so several
// members may run it at once; every user a member needs is created before
// any member enables auth. It reports whether this call enabled auth.
func EnableAuth(ctx context.Context, cli *clientv3.Client, spec AuthSpec) (bool, error) {
	if on, err := AuthEnabled(ctx, cli); err != nil || on {
		return false, err
	}
	err := setUp(ctx, cli, spec, true)
	if err == nil {
		_, err = cli.AuthEnable(ctx)
	}
	if err == nil {
		return true, nil
	}
	if denied(err) {
		// Another member turned auth on between two steps: its spec
		// covered the members, and the rest is RegisterUsers' job.
		if on, serr := AuthEnabled(ctx, cli); serr == nil && on {
			return false, nil
		}
	}
	return false, fmt.Errorf("%w: %w", ErrAuth, err)
}

// RegisterUsers creates spec's users (and the roles, if missing) on a
// cluster whose auth is on; cli must act as root. A user who exists gets
// exactly the role spec gives, losing any other resmon role, so an
// operator reissued as a viewer is no longer an admin.
func RegisterUsers(ctx context.Context, cli *clientv3.Client, spec AuthSpec) error {
	if err := setUp(ctx, cli, spec, false); err != nil {
		return fmt.Errorf("%w: %w", ErrAuth, err)
	}
	return nil
}

// DeleteUser removes an etcd user; cli must act as root. A missing user is
// not an error.
func DeleteUser(ctx context.Context, cli *clientv3.Client, name string) error {
	if _, err := cli.UserDelete(ctx, name); err != nil && !errors.Is(err, rpctypes.ErrUserNotFound) {
		return fmt.Errorf("%w: deleting user %q: %w", ErrAuth, name, err)
	}
	return nil
}

func setUp(ctx context.Context, cli *clientv3.Client, spec AuthSpec, withRoot bool) error {
	if spec.Prefix == "" {
		return errors.New("no key prefix for the roles")
	}
	end := clientv3.GetPrefixRangeEnd(spec.Prefix)
	for _, r := range []struct {
		name string
		perm clientv3.PermissionType
	}{
		{EtcdRoleNode, clientv3.PermissionType(clientv3.PermReadWrite)},
		{EtcdRoleAdmin, clientv3.PermissionType(clientv3.PermReadWrite)},
		{EtcdRoleViewer, clientv3.PermissionType(clientv3.PermRead)},
	} {
		if _, err := cli.RoleAdd(ctx, r.name); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
			return fmt.Errorf("role %s: %w", r.name, err)
		}
		// Granting a permission a role holds already changes nothing.
		if _, err := cli.RoleGrantPermission(ctx, r.name, spec.Prefix, end, r.perm); err != nil {
			return fmt.Errorf("role %s: granting %s: %w", r.name, spec.Prefix, err)
		}
	}
	if withRoot {
		if err := addUser(ctx, cli, EtcdRoot, EtcdRoot); err != nil {
			return err
		}
	}
	for _, u := range spec.Users {
		role, err := etcdRole(u.Role)
		if err != nil {
			return err
		}
		if u.Name == EtcdRoot {
			return fmt.Errorf("user %q is etcd's administrator, not a node or an operator", u.Name)
		}
		if err := addUser(ctx, cli, u.Name, role); err != nil {
			return err
		}
	}
	return nil
}

// addUser creates a user without a password, or finds it, and makes role
// its only resmon role.
func addUser(ctx context.Context, cli *clientv3.Client, name, role string) error {
	_, err := cli.UserAddWithOptions(ctx, name, "", &clientv3.UserAddOptions{NoPassword: true})
	if err != nil && !errors.Is(err, rpctypes.ErrUserAlreadyExist) {
		return fmt.Errorf("user %q: %w", name, err)
	}
	u, err := cli.UserGet(ctx, name)
	if err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	for _, r := range u.Roles {
		if r != role && slices.Contains([]string{EtcdRoleNode, EtcdRoleAdmin, EtcdRoleViewer}, r) {
			if _, err := cli.UserRevokeRole(ctx, name, r); err != nil {
				return fmt.Errorf("user %q: revoking %s: %w", name, r, err)
			}
		}
	}
	if !slices.Contains(u.Roles, role) {
		if _, err := cli.UserGrantRole(ctx, name, role); err != nil {
			return fmt.Errorf("user %q: granting %s: %w", name, role, err)
		}
	}
	return nil
}

func denied(err error) bool {
	return errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrUserEmpty) ||
		errors.Is(err, rpctypes.ErrUserNotFound)
}
