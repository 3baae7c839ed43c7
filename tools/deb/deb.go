// Package deb builds resmon's Debian package with nfpm, from
// dist/nfpm.yaml: it builds clusterd, cluster and the Generic Application
// (go-plugin and WASM) into a staging directory, generates the shell
// completions and the man pages from the command tree, and packs them with
// the unit, the configuration and the examples of dist/.
package deb

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/resmon/resmon/internal/cli"
)

// ErrBuild reports a step of the build that failed.
var ErrBuild = errors.New("deb: build failed")

// Options say what to build where.
type Options struct {
	Root    string // the repository (go.mod's directory)
	OutDir  string // where the .deb goes
	Version string // package version; default 0.0.0~dev
	Arch    string // Debian architecture; default from GOARCH
}

func (o *Options) defaults() error {
	if o.Root == "" || o.OutDir == "" {
		return fmt.Errorf("%w: Root and OutDir are required", ErrBuild)
	}
	if o.Version == "" {
		o.Version = "0.0.0~dev"
	}
	if o.Arch == "" {
		o.Arch = runtime.GOARCH // amd64 and arm64 are Debian's names too
	}
	return nil
}

// Build builds the package and returns its path.
func Build(ctx context.Context, o Options) (string, error) {
	if err := o.defaults(); err != nil {
		return "", err
	}
	stage, err := os.MkdirTemp("", "resmon-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	goBuild := func(env []string, args ...string) error {
		cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
		cmd.Dir = o.Root
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w: go build %s: %v\n%s", ErrBuild, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := goBuild(nil, "-trimpath", "-o", stage+"/", "./cmd/clusterd", "./cmd/cluster", "./examples/genapp/cmd/genapp"); err != nil {
		return "", err
	}
	if err := goBuild([]string{"GOOS=wasip1", "GOARCH=wasm"}, "-trimpath", "-buildmode=c-shared", "-o", filepath.Join(stage, "genapp.wasm"), "./examples/genapp-wasm"); err != nil {
		return "", err
	}
	if err := completions(ctx, filepath.Join(stage, "cluster"), filepath.Join(stage, "completion")); err != nil {
		return "", err
	}
	if err := manPages(filepath.Join(stage, "man")); err != nil {
		return "", err
	}
	env := map[string]string{"ARCH": o.Arch, "VERSION": o.Version, "STAGE": stage, "DIST": filepath.Join(o.Root, "dist")}
	spec, err := os.ReadFile(filepath.Join(o.Root, "dist", "nfpm.yaml"))
	if err != nil {
		return "", err
	}
	// Every ${NAME} of the file is ours: expanded here, in every field.
	expanded := os.Expand(string(spec), func(k string) string { return env[k] })
	cfg, err := nfpm.ParseWithEnvMapping(strings.NewReader(expanded), func(k string) string { return env[k] })
	if err != nil {
		return "", fmt.Errorf("%w: dist/nfpm.yaml: %v", ErrBuild, err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBuild, err)
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBuild, err)
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBuild, err)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(o.OutDir, pkg.ConventionalFileName(info))
	var b bytes.Buffer
	if err := pkg.Package(info, &b); err != nil {
		return "", fmt.Errorf("%w: packing: %v", ErrBuild, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// completions writes the bash, zsh and fish completions of the CLI, as
// the binary generates them; bash completes Cluster (the capital link) too.
func completions(ctx context.Context, bin, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for shell, file := range map[string]string{"bash": "cluster.bash", "zsh": "_cluster", "fish": "cluster.fish"} {
		out, err := exec.CommandContext(ctx, bin, "completion", shell).Output()
		if err != nil {
			return fmt.Errorf("%w: cluster completion %s: %v", ErrBuild, shell, err)
		}
		if shell == "bash" {
			out = append(out, []byte("complete -o default -F __start_cluster Cluster\n")...)
		}
		if err := os.WriteFile(filepath.Join(dir, file), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// manPages writes the man pages, gzipped as Debian ships them.
func manPages(dir string) error {
	raw := dir + ".raw"
	if err := cli.WriteManPages(raw); err != nil {
		return err
	}
	defer os.RemoveAll(raw)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(raw)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(raw, e.Name()))
		if err != nil {
			return err
		}
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		w.Write(b)
		w.Close()
		if err := os.WriteFile(filepath.Join(dir, e.Name()+".gz"), z.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
